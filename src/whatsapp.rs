//! WhatsApp: workspaces and their onboarding (`workflows/onboarding.toml`: Embedded
//! Signup code -> token -> WABA -> phone number -> webhooks -> registration -> templates
//! -> active), message templates and their approval (`workflows/template_approval.toml`),
//! and Meta's webhooks.

use crate::engine::handlers::HandlerRegistry;

/// Registers every WhatsApp task handler.
pub fn register_handlers(registry: &mut HandlerRegistry, deps: WhatsAppDeps) {
    onboarding::register(registry, deps.clone());
    template_steps::register(registry, deps);
}

pub mod deps;
pub mod onboarding;
pub mod template_steps;
pub mod templates;
pub mod webhooks;
pub mod workspaces;

pub use deps::WhatsAppDeps;
