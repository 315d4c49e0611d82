//! The WhatsApp domain's SQL: workspaces and their onboarding secrets, message templates
//! and their status history, webhook deliveries and what they carried. SQL only, like
//! [`crate::store`]; the domain's commands and handlers are its only callers.

pub mod templates;
pub mod webhooks;
pub mod workspaces;
