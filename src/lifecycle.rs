//! Data lifecycle: what the platform stores and what happens to it. The data map
//! ([`data_map`]) names every table with its category, the subject keys its records are
//! found by, the time its retention counts from and what erasure does to it; legal holds
//! ([`holds`]) keep records from being purged or erased while a matter is open;
//! retention policies ([`retention`]) say how long each category is kept; the nightly
//! sweep ([`sweep`]) purges what is past it through the purge engine ([`purge`]).
//!
//! Its faces: commands [`holds`], [`retention`] and [`sweep::preview`]; task handlers
//! [`hold_release`] and [`sweep`]; the background loop [`hold_expiry`]; its SQL in
//! [`store`].

use futures::FutureExt;

use crate::domain::{BackgroundLoop, Domain, DomainContext, Shutdown};
use crate::engine::Engine;
use crate::engine::handlers::HandlerRegistry;

pub mod data_map;
pub mod erasure;
pub mod hold_expiry;
pub mod hold_release;
pub mod hold_waits;
pub mod holds;
pub mod purge;
pub mod retention;
pub mod store;
pub mod sweep;

/// The actor the domain's own acts are recorded under.
pub const ACTOR: &str = "lifecycle";

/// The data lifecycle domain as the service wires it.
pub struct Lifecycle {
    context: DomainContext,
}

impl Lifecycle {
    /// The domain over the service's shared parts.
    pub fn new(context: DomainContext) -> Self {
        Self { context }
    }
}

impl Domain for Lifecycle {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn register_handlers(&self, registry: &mut HandlerRegistry) {
        hold_release::register(
            registry,
            hold_release::ReleaseDeps {
                pool: self.context.pool.clone(),
            },
        );
        sweep::register(
            registry,
            sweep::SweepDeps {
                pool: self.context.pool.clone(),
            },
        );
    }

    fn background_loops(&self, engine: &Engine, shutdown: Shutdown) -> Vec<BackgroundLoop> {
        vec![BackgroundLoop {
            name: "lifecycle.hold_expiry",
            task: hold_expiry::run(engine.clone(), shutdown).boxed(),
        }]
    }
}
