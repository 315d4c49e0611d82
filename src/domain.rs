//! What a product domain is, as the service wires it: a folder of one shape — its
//! commands (the only entry for `api` and the console), its task handlers, its background
//! loops and its store — presented to `app` through the [`Domain`] trait. Which domains
//! run is one list, in [`crate::domains`].

use futures::future::{BoxFuture, Shared};
use sqlx::PgPool;

use crate::engine::Engine;
use crate::engine::handlers::HandlerRegistry;
use crate::meta::GraphClient;
use crate::security::secret_box::SecretBox;

/// Resolves when the process stops; every background loop watches it.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// What domains are built from: the shared parts of the service.
#[derive(Debug, Clone)]
pub struct DomainContext {
    /// Database.
    pub pool: PgPool,
    /// Meta's Graph API (or the sandbox).
    pub graph: GraphClient,
    /// Seals and opens stored tokens and secrets.
    pub secrets: SecretBox,
}

/// A long-running loop of a domain, started by worker processes.
pub struct BackgroundLoop {
    /// Its name in logs.
    pub name: &'static str,
    /// The loop itself; it returns once shutdown resolves.
    pub task: BoxFuture<'static, ()>,
}

/// One product domain as the service wires it.
pub trait Domain: Send + Sync {
    /// Its name in logs.
    fn name(&self) -> &'static str;

    /// Adds its task handlers to the engine's registry.
    fn register_handlers(&self, registry: &mut HandlerRegistry);

    /// Its background loops (processors, sweeps), run by processes that run workers.
    fn background_loops(&self, engine: &Engine, shutdown: Shutdown) -> Vec<BackgroundLoop>;
}
