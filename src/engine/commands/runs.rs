//! What callers ask of runs: start and cancel (approval decisions are in
//! [`super::decisions`], events in [`super::events`]). Each is one transaction over the
//! locked run, with its history and any job it implies.

use crate::engine::{RunStatus, StepStatus};
use crate::store::ids::{RunId, WorkspaceId};
use chrono::Utc;
use serde_json::{Value, json};

use crate::engine::execution::eager::Writer;
use crate::engine::execution::transition::Transition;
use crate::engine::handlers::context::initial_context;
use crate::engine::{Engine, EngineError, InputProblem};
use crate::security::Caller;
use crate::store;
use crate::store::runs::RunRow;

/// A request to start a run.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// Workflow name.
    pub workflow: String,
    /// Input.
    pub input: Value,
    /// Workspace.
    pub workspace_id: Option<WorkspaceId>,
    /// Same key, same run.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Who starts it.
    pub initiator: String,
}

/// An idempotency key in its key space. A key names one run within its space, the run's
/// workspace and its workflow: the same text sent for another workspace or workflow is
/// another key, and no caller can write a key of the service's own space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose key space.
    pub scope: KeyScope,
    /// The key.
    pub key: String,
}

/// Who owns an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// Sent by an API caller.
    Caller,
    /// Derived by the service itself (a schedule's tick, a template's submission).
    Service,
}

impl KeyScope {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Caller => "caller",
            KeyScope::Service => "service",
        }
    }
}

impl IdempotencyKey {
    /// A key an API caller sent.
    pub fn caller(key: impl Into<String>) -> Self {
        Self {
            scope: KeyScope::Caller,
            key: key.into(),
        }
    }

    /// A key the service derived.
    pub fn service(key: impl Into<String>) -> Self {
        Self {
            scope: KeyScope::Service,
            key: key.into(),
        }
    }
}

/// Who asks for a command: a caller of the API, for whom the visibility rule applies (a
/// run of a workspace it may not see does not exist), or the service itself (the webhook
/// processor, a schedule), named as the actor it records.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// An authenticated caller.
    Caller(&'a Caller),
    /// The service on its own behalf.
    Service(&'a str),
}

impl Actor<'_> {
    /// The name recorded in history and the audit ledger.
    pub fn name(&self) -> &str {
        match self {
            Actor::Caller(caller) => &caller.person,
            Actor::Service(name) => name,
        }
    }

    /// The run, if this actor may see it.
    fn visible(&self, run: Option<RunRow>) -> Option<RunRow> {
        match self {
            Actor::Caller(caller) => caller.visible(run),
            Actor::Service(_) => run,
        }
    }
}

impl Engine {
    /// Starts a run, or returns the run already started with the same idempotency key
    /// (`created` false).
    #[tracing::instrument(
        name = "start_run",
        skip_all,
        fields(workflow.name = %request.workflow, workspace.id = request.workspace_id.as_deref())
    )]
    pub async fn start_run(&self, request: StartRun) -> Result<(RunRow, bool), EngineError> {
        let definition = self
            .catalog
            .latest(&request.workflow)
            .ok_or_else(|| EngineError::UnknownWorkflow(request.workflow.clone()))?;
        if let Some(schema) = &definition.input_schema {
            check_input(schema, &request.input)?;
        }
        // No transaction: what a start writes is one statement (src/store/starts.rs), and
        // a concurrent start with the same key makes it write nothing (`StartRaced`).
        let mut conn = self.pool.acquire().await?;
        if let Some(existing) = holder_of_key(&mut conn, &request).await? {
            return same_request(existing, &request).map(|run| (run, false));
        }
        let now = Utc::now();
        let run = RunRow {
            id: RunId::new(),
            workflow: definition.name.clone(),
            workflow_version: definition.version,
            workspace_id: request.workspace_id.clone(),
            status: RunStatus::Running,
            context: initial_context(&request.input),
            input: request.input.clone(),
            current_step: None,
            current_seq: 0,
            generation: 0,
            idempotency_key: request.idempotency_key.as_ref().map(|k| k.key.clone()),
            idempotency_scope: request
                .idempotency_key
                .as_ref()
                .map(|k| k.scope.as_str().to_owned()),
            initiator: request.initiator.clone(),
            error: None,
            cancel_reason: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        let mut transition =
            Transition::starting(&definition, run, Some(request.initiator.clone()));
        transition.record(
            "run_started",
            None,
            json!({ "workflow": definition.name, "version": definition.version, "sha256": definition.sha256 }),
        );
        // Following reads nothing of a run not yet written (no event can be buffered for
        // it), so the connection outside a transaction serves.
        transition
            .follow(
                &mut conn,
                crate::engine::definitions::definition::Target::Step(0),
                None,
            )
            .await?;
        let run = match self
            .commit_handing_off(Writer::Statement(conn), transition)
            .await
        {
            Err(EngineError::StartRaced) => {
                // The start wrote nothing: its workspace is missing or closed, or another
                // request with the same key won the race (then answer with its run).
                let mut conn = self.pool.acquire().await?;
                if let Some(workspace) = &request.workspace_id {
                    match store::workspace_refs::open(&mut conn, workspace).await? {
                        None => return Err(EngineError::WorkspaceNotFound(workspace.clone())),
                        Some(false) => return Err(EngineError::WorkspaceClosed(workspace.clone())),
                        Some(true) => {}
                    }
                }
                let existing = holder_of_key(&mut conn, &request)
                    .await?
                    .ok_or_else(|| EngineError::Conflict("idempotency key race lost".into()))?;
                return same_request(existing, &request).map(|run| (run, false));
            }
            result => result?,
        };
        Ok((run, true))
    }

    /// Cancels a run that has not finished; its queued jobs become no-ops.
    #[tracing::instrument(name = "cancel_run", skip_all, fields(run.id = %id))]
    pub async fn cancel_run(
        &self,
        id: RunId,
        reason: &str,
        actor: Actor<'_>,
    ) -> Result<RunRow, EngineError> {
        let mut tx = self.pool.begin().await?;
        let run = lock_unfinished(&mut tx, id, actor, " and cannot be cancelled").await?;
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        if let Some(mut row) = store::steps::get(&mut tx, id, run.current_seq).await? {
            row.status = StepStatus::Cancelled;
            row.wake_at = None;
            row.finished_at = Some(chrono::Utc::now());
            store::steps::save(&mut tx, &row).await?;
        }
        let mut transition = Transition::new(&definition, run, Some(actor.name().to_owned()));
        transition.run.cancel_reason = Some(reason.to_owned());
        transition.finish(RunStatus::Cancelled, None);
        let run = transition.commit_changes(&mut tx).await?;
        tx.commit().await?;
        Ok(run)
    }
}

/// The run already holding the start's idempotency key, if it has one.
async fn holder_of_key(
    conn: &mut sqlx::PgConnection,
    request: &StartRun,
) -> Result<Option<RunRow>, EngineError> {
    let Some(key) = &request.idempotency_key else {
        return Ok(None);
    };
    Ok(store::runs::by_idempotency_key(
        conn,
        key.scope.as_str(),
        request.workspace_id.as_deref(),
        &request.workflow,
        &key.key,
    )
    .await?)
}

/// The run an idempotent retry answers with: the same key must carry the same input.
fn same_request(existing: RunRow, request: &StartRun) -> Result<RunRow, EngineError> {
    if existing.input != request.input {
        return Err(EngineError::Conflict(
            "this idempotency key already started a run with a different input".to_owned(),
        ));
    }
    Ok(existing)
}

/// The run, locked until the transaction ends, if `actor` may see it and it has not
/// finished (`Conflict` naming its final status, then `why_not`, otherwise).
pub(super) async fn lock_unfinished(
    tx: &mut sqlx::PgConnection,
    id: RunId,
    actor: Actor<'_>,
    why_not: &str,
) -> Result<RunRow, EngineError> {
    let run = actor
        .visible(store::runs::lock(tx, id).await?)
        .ok_or(EngineError::RunNotFound(id))?;
    if run.is_finished() {
        return Err(EngineError::Conflict(format!(
            "run {id} has already {}{why_not}",
            run.status
        )));
    }
    Ok(run)
}

/// Checks `input` against a workflow's input schema, locating every problem.
pub(in crate::engine) fn check_input(schema: &Value, input: &Value) -> Result<(), EngineError> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|error| EngineError::Definition(format!("input schema: {error}")))?;
    let problems: Vec<InputProblem> = validator
        .iter_errors(input)
        .map(|error| {
            let mut pointer = error.instance_path.to_string();
            // Point at the missing property itself, not at the object lacking it.
            if let jsonschema::error::ValidationErrorKind::Required { property } = &error.kind {
                let name = property
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| property.to_string());
                pointer = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
            }
            InputProblem {
                pointer,
                message: error.to_string(),
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::InvalidInput(problems))
    }
}
