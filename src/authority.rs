//! Requests from public authorities: each a run of `workflows/authority_request.toml`.
//! A compliance officer reviews legal sufficiency and narrows the requested scope to the
//! approved one, within what the instrument allows ([`instruments`], [`scope`]); the
//! approved scope is preserved by a legal hold; the minimal package is built from it
//! ([`package`]); a compliance lead other than the reviewer and the filer approves the
//! disclosure (an emergency: one lead, then a second person's post-review within 48
//! hours); the businesses concerned are told unless a nondisclosure order applies, then
//! when it ends. Every step is a timeline entry bound to the audit ledger ([`timeline`]),
//! which the evidence bundle lets an auditor check offline (docs/EVIDENCE.md). Counts for
//! the transparency report are in [`transparency`].
//!
//! Its faces: commands [`requests`], [`decisions`], [`transparency`]; task handlers
//! [`handlers`]; the background loop [`starter`]; its SQL in [`store`].

use futures::FutureExt;

use crate::domain::{BackgroundLoop, Domain, DomainContext, Shutdown};
use crate::engine::Engine;
use crate::engine::handlers::HandlerRegistry;

pub mod decisions;
pub mod evidence;
pub mod handlers;
pub mod instruments;
pub mod package;
pub mod requests;
pub mod scope;
pub mod starter;
pub mod store;
pub mod timeline;
pub mod transparency;

/// The actor the domain's own acts are recorded under.
pub const ACTOR: &str = "authority";

/// The workflow every request runs.
pub const WORKFLOW: &str = "authority_request";

/// The event an authority's clarification is posted as.
pub const CLARIFICATION_EVENT: &str = "authority_request_clarification";

/// The event a preservation's renewal is posted as (the run looks at the holds again).
pub const PRESERVATION_EVENT: &str = "authority_preservation_changed";

/// The authority domain as the service wires it.
pub struct Authority {
    context: DomainContext,
}

impl Authority {
    /// The domain over the service's shared parts.
    pub fn new(context: DomainContext) -> Self {
        Self { context }
    }
}

impl Domain for Authority {
    fn name(&self) -> &'static str {
        "authority"
    }

    fn register_handlers(&self, registry: &mut HandlerRegistry) {
        registry.own_decisions(
            WORKFLOW,
            "POST /v1/authority-requests/{id}/review, /disclosure or /post-review",
        );
        handlers::register(
            registry,
            handlers::AuthorityDeps {
                pool: self.context.pool.clone(),
            },
        );
    }

    fn background_loops(&self, engine: &Engine, shutdown: Shutdown) -> Vec<BackgroundLoop> {
        vec![BackgroundLoop {
            name: "authority.starter",
            task: starter::run(engine.clone(), shutdown).boxed(),
        }]
    }
}
