//! WhatsApp: workspaces and their onboarding (`workflows/onboarding.toml`: Embedded
//! Signup code -> token -> WABA -> phone number -> webhooks -> registration -> templates
//! -> active), message templates and their approval (`workflows/template_approval.toml`),
//! and Meta's webhooks.
//!
//! Its faces: commands [`workspaces`], [`templates`] and [`webhooks::take_delivery`]; task
//! handlers [`onboarding`], [`template_steps`] and [`template_reconciliation`]; the
//! background loop [`webhooks::run_processor`]; its SQL in [`store`].

use futures::FutureExt;

use crate::domain::{BackgroundLoop, Domain, DomainContext, Shutdown};
use crate::engine::Engine;
use crate::engine::handlers::HandlerRegistry;

pub mod deps;
pub mod onboarding;
pub mod onboarding_secrets;
pub mod store;
pub mod template_reconciliation;
pub mod template_steps;
pub mod templates;
pub mod webhooks;
pub mod workspaces;

pub use deps::WhatsAppDeps;

/// The WhatsApp domain as the service wires it.
pub struct WhatsApp {
    deps: WhatsAppDeps,
}

impl WhatsApp {
    /// The domain over the service's shared parts.
    pub fn new(context: DomainContext) -> Self {
        Self {
            deps: WhatsAppDeps {
                pool: context.pool,
                graph: context.graph,
                secrets: context.secrets,
            },
        }
    }
}

impl Domain for WhatsApp {
    fn name(&self) -> &'static str {
        "whatsapp"
    }

    fn register_handlers(&self, registry: &mut HandlerRegistry) {
        onboarding::register(registry, self.deps.clone());
        template_steps::register(registry, self.deps.clone());
        template_reconciliation::register(registry, self.deps.clone());
    }

    fn background_loops(&self, engine: &Engine, shutdown: Shutdown) -> Vec<BackgroundLoop> {
        vec![
            BackgroundLoop {
                name: "whatsapp.webhook_processor",
                task: webhooks::run_processor(engine.clone(), shutdown.clone()).boxed(),
            },
            BackgroundLoop {
                name: "whatsapp.onboarding_secrets_sweeper",
                task: onboarding_secrets::run_sweeper(engine.clone(), shutdown).boxed(),
            },
        ]
    }
}
