//! Privacy requests: deletion, access and disconnect requests about a business account
//! (the platform as controller) or one of its customers (as processor, on the business's
//! instruction), each a run of `workflows/privacy_request.toml`: the requester verified,
//! a compliance officer's review, a lead's second approval where a whole account is
//! deleted or disconnected, the legal-hold check, execution through the data lifecycle's
//! erasure engine with receipts, statutory deadlines ([`deadlines`]) and a timeline.
//!
//! Its faces: commands [`requests`], [`verification`], [`packages`]; task handlers
//! [`handlers`] (with `code_steps` and `execution`); the background loop
//! [`starter`]; its SQL in [`store`].

use futures::FutureExt;

use crate::domain::{BackgroundLoop, Domain, DomainContext, Shutdown};
use crate::engine::Engine;
use crate::engine::handlers::HandlerRegistry;

mod code_steps;
pub mod deadlines;
pub mod evidence;
pub mod execution;
pub mod extensions;
pub mod handlers;
pub mod meta_requests;
pub mod packages;
pub mod requests;
pub mod responses;
pub mod starter;
pub mod store;
pub mod verification;

/// The actor the domain's own acts are recorded under.
pub const ACTOR: &str = "privacy";

/// The workflow every request runs.
pub const WORKFLOW: &str = "privacy_request";

/// Why a request may be denied (a denial names one, plus free text).
pub const DENIAL_REASONS: [&str; 7] = [
    "not_verified",
    "not_authorized",
    "no_data",
    "outside_jurisdiction",
    "manifestly_unfounded",
    "duplicate",
    "other",
];

/// The privacy domain as the service wires it.
pub struct Privacy {
    context: DomainContext,
}

impl Privacy {
    /// The domain over the service's shared parts.
    pub fn new(context: DomainContext) -> Self {
        Self { context }
    }
}

impl Domain for Privacy {
    fn name(&self) -> &'static str {
        "privacy"
    }

    fn register_handlers(&self, registry: &mut HandlerRegistry) {
        registry.own_decisions(WORKFLOW, "POST /v1/privacy-requests/{id}/decision");
        handlers::register(
            registry,
            handlers::PrivacyDeps {
                pool: self.context.pool.clone(),
                graph: self.context.graph.clone(),
                secrets: self.context.secrets.clone(),
            },
        );
    }

    fn background_loops(&self, engine: &Engine, shutdown: Shutdown) -> Vec<BackgroundLoop> {
        vec![BackgroundLoop {
            name: "privacy.starter",
            task: starter::run(engine.clone(), shutdown).boxed(),
        }]
    }
}
