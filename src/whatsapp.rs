//! WhatsApp onboarding: workspaces, and the task handlers of `workflows/onboarding.toml`
//! (Embedded Signup code -> token -> WABA -> phone number -> webhooks -> registration ->
//! templates -> active).

pub mod deps;
pub mod onboarding;
pub mod webhooks;
pub mod workspaces;

pub use deps::WhatsAppDeps;
