//! Appointments and their WhatsApp reminders: a workspace's customers with their consent
//! as evidence ([`customers`]), appointments booked under a snapshot of the workspace's
//! reminder policy ([`policy`], [`appointments`]), and one run of
//! `workflows/appointment_reminder.toml` per appointment that plans each reminder on the
//! customer's clock ([`schedule`]), sleeps on a durable timer a reschedule or cancel cuts
//! short, re-checks everything at fire time and sends the template with the reminder's id
//! as callback data ([`handlers`]); customers' STOP replies and quick-reply taps are read
//! by [`replies`]. Its SQL is in [`store`].

use futures::FutureExt;

use crate::domain::{BackgroundLoop, Domain, DomainContext, Shutdown};
use crate::engine::handlers::HandlerRegistry;
use crate::engine::{Engine, InputProblem};
use crate::security::Caller;

pub mod appointments;
pub mod customers;
pub mod handlers;
pub mod policy;
pub mod replies;
pub mod schedule;
mod sending;
pub mod store;
pub mod ttl;

/// The actor the domain's own acts are recorded under.
pub const ACTOR: &str = "reminders";

/// The workflow every appointment runs.
pub const WORKFLOW: &str = "appointment_reminder";

/// The event a reschedule or cancel posts to the appointment's run.
pub const CHANGED_EVENT: &str = "appointment_changed";

/// Why a reminders command was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    /// The request breaks a rule; every problem, located.
    #[error("invalid request")]
    Invalid(Vec<InputProblem>),
    /// No such record in the workspace (or not visible to the caller).
    #[error("{0} {1} not found")]
    NotFound(&'static str, uuid::Uuid),
    /// The workspace does not exist (or is not visible to the caller).
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(String),
    /// The record's state does not allow it: the rule, and why.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The engine refused.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub(crate) fn at(pointer: &str, message: impl Into<String>) -> InputProblem {
    InputProblem {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// `workspace`, if it exists and the caller may see it (404 otherwise, the one rule).
pub(crate) async fn visible_workspace(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
) -> Result<String, ReminderError> {
    let workspace = caller
        .target_workspace(Some(workspace.to_owned()))
        .map_err(ReminderError::WorkspaceNotFound)?
        .unwrap_or_default();
    let mut conn = pool.acquire().await?;
    if crate::store::workspace_refs::open(&mut conn, &workspace)
        .await?
        .is_none()
    {
        return Err(ReminderError::WorkspaceNotFound(workspace));
    }
    Ok(workspace)
}

/// The reminders domain as the service wires it.
pub struct Reminders {
    context: DomainContext,
}

impl Reminders {
    /// The domain over the service's shared parts.
    pub fn new(context: DomainContext) -> Self {
        Self { context }
    }
}

impl Domain for Reminders {
    fn name(&self) -> &'static str {
        "reminders"
    }

    fn register_handlers(&self, registry: &mut HandlerRegistry) {
        handlers::register(
            registry,
            crate::whatsapp::deps::WhatsAppDeps {
                pool: self.context.pool.clone(),
                graph: self.context.graph.clone(),
                secrets: self.context.secrets.clone(),
            },
        );
    }

    fn background_loops(&self, engine: &Engine, shutdown: Shutdown) -> Vec<BackgroundLoop> {
        vec![BackgroundLoop {
            name: "reminders.replies",
            task: replies::run(engine.clone(), shutdown).boxed(),
        }]
    }
}
