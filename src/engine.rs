//! The durable workflow engine. apalis-postgres carries step jobs; our own tables hold
//! the truth about runs, steps, attempts and history. Five groups, each with one entry
//! file saying what it owns; dependencies between them point one way, top to bottom:
//!
//! - [`background`]: recurring runs from `jobs/*.toml` and queue housekeeping.
//! - [`commands`]: what callers ask of runs (start, cancel, decide, post an event), the
//!   approval policy, and the read models for the API.
//! - [`execution`]: workers, claims, the eager hand-off, group commit, completion, and
//!   moving a locked run between steps.
//! - [`definitions`]: the TOML format, its validation, and the catalog of loaded and
//!   pinned versions.
//! - [`handlers`]: task handlers by name, what they are called with (the run context)
//!   and what they answer; the built-in ones.
//!
//! This file holds what every group shares: the [`Engine`] value, its errors, the states
//! and row types the engine speaks in.

pub mod background;
pub mod commands;
pub mod definitions;
pub mod execution;
pub mod handlers;

use std::sync::Arc;

use sqlx::PgPool;

use crate::security::InWorkspace;
use definitions::catalog::{Catalog, PinnedError};

pub use crate::store::attempts::AttemptRow as Attempt;
pub use crate::store::history::HistoryRow as HistoryEntry;
pub use crate::store::ids::{KeyId, RunId, WorkspaceId};
pub use crate::store::runs::{RunFilter, RunRow as Run};
pub use crate::store::status::{AttemptStatus, RunStatus, StepStatus};
pub use crate::store::steps::StepRow as StepVisit;

impl InWorkspace for Run {
    fn workspace(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }
}

/// The actor recorded for what the engine does on its own (steps, timers, timeouts).
pub const ENGINE_ACTOR: &str = "engine";

/// The engine: a pool and a catalog, cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pool: PgPool,
    catalog: Arc<Catalog>,
    /// Where commands hand off the steps they make due; empty without workers.
    eager: execution::eager::EagerSlot,
}

impl Engine {
    /// An engine over this database and catalog.
    pub fn new(pool: PgPool, catalog: Arc<Catalog>) -> Self {
        Self {
            pool,
            catalog,
            eager: execution::eager::EagerSlot::default(),
        }
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The loaded definitions.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

/// One way a run's input fails the workflow's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// JSON pointer into the input.
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

/// Every problem as `pointer: message`, separated by `; `.
fn describe(problems: &[InputProblem]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                if p.pointer.is_empty() {
                    "/"
                } else {
                    &p.pointer
                },
                p.message
            )
        })
        .collect();
    parts.join("; ")
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No workflow of that name is loaded.
    #[error("workflow `{0}` is not defined")]
    UnknownWorkflow(String),
    /// No such run.
    #[error("run {0} not found")]
    RunNotFound(RunId),
    /// A start named a workspace that does not exist.
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(WorkspaceId),
    /// A start named a closed workspace, which takes no new work.
    #[error("workspace `{0}` is closed and takes no new work; an admin can reopen it")]
    WorkspaceClosed(WorkspaceId),
    /// The run's workflow has no such step.
    #[error("{0}")]
    StepNotFound(String),
    /// The input fails the workflow's schema.
    #[error("the input does not match the workflow's input schema: {}", describe(.0))]
    InvalidInput(Vec<InputProblem>),
    /// The request contradicts the run's state.
    #[error("{0}")]
    Conflict(String),
    /// A start lost the race for its idempotency key to a concurrent start (answered by
    /// that start's run; never reaches a caller).
    #[error("another start took the idempotency key meanwhile")]
    StartRaced,
    /// An approval policy rule refuses the decision (recorded in the audit ledger).
    #[error("{}", .0.detail)]
    Refused(commands::policy::Refusal),
    /// A definition problem discovered at run time.
    #[error("definition problem: {0}")]
    Definition(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The job queue failed.
    #[error("job queue error: {0}")]
    Queue(#[from] apalis_postgres::Error),
    /// The process is shutting down and its batch writers have stopped.
    #[error("the engine's batch writers have stopped")]
    Stopped,
}

impl From<PinnedError> for EngineError {
    fn from(error: PinnedError) -> Self {
        match error {
            PinnedError::Database(error) => EngineError::Database(error),
            other => EngineError::Definition(other.to_string()),
        }
    }
}
