//! `/v1/runs`: start, list, inspect and cancel runs; post events; decide approvals.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use super::views::{RunDetailView, RunStatus, RunView};
use crate::engine::RunId;
use crate::engine::commands::{Actor, Decision, IdempotencyKey, StartRun};
use crate::engine::{Engine, RunFilter};
use crate::security::Permission;

/// Largest page of runs.
const MAX_PAGE: u32 = 200;

/// Start a run.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct StartRunRequest {
    /// Workflow name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub workflow: String,
    /// Input, checked against the workflow's input schema.
    #[oai(default)]
    pub input: Value,
    /// Workspace the run belongs to.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub workspace_id: Option<String>,
    /// Same key, same run: a repeated request for the same workspace and workflow answers
    /// 200 with the first run; the same key with another input is a 409. Keys of other
    /// workspaces, other workflows and the service's own runs never meet yours.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub idempotency_key: Option<String>,
}

impl Example for StartRunRequest {
    fn example() -> Self {
        Self {
            workflow: "example".into(),
            input: serde_json::json!({ "customer": "C-1001" }),
            workspace_id: Some("ws_salon_aurora".into()),
            idempotency_key: Some("order-1001".into()),
        }
    }
}

/// Cancel a run.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CancelRequest {
    /// Why.
    #[oai(validator(max_length = 2000))]
    pub reason: String,
}

/// An event for a run.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct EventRequest {
    /// Event name, as in a `wait_event` step's `event`.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Must equal the value at the step's `correlation` path.
    #[oai(validator(max_length = 500))]
    pub correlation: String,
    /// Becomes the step's output.
    #[oai(default)]
    pub payload: Value,
}

impl Example for CancelRequest {
    fn example() -> Self {
        Self {
            reason: "the customer withdrew the request".into(),
        }
    }
}

impl Example for EventRequest {
    fn example() -> Self {
        Self {
            name: "template_status".into(),
            correlation: "order_update_v2".into(),
            payload: serde_json::json!({ "status": "APPROVED" }),
        }
    }
}

/// What posting an event did.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventReceiptView {
    /// Stored event id.
    pub event_id: i64,
    /// Whether a waiting step took the event now (otherwise it is kept for a later step).
    pub matched: bool,
    /// The run after the event.
    pub run: RunView,
}

/// approve or reject.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DecisionValue {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

/// A decision on an approval step.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct DecisionRequest {
    /// approve or reject.
    pub decision: DecisionValue,
    /// Why; kept in the run's history.
    #[oai(validator(max_length = 2000))]
    pub reason: String,
}

impl Example for DecisionRequest {
    fn example() -> Self {
        Self {
            decision: DecisionValue::Approve,
            reason: "the request names the data and the legal basis; scope is minimal".into(),
        }
    }
}

/// A page of runs.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RunPage {
    /// Runs, newest first.
    pub items: Vec<RunView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum StartRunResponse {
    /// The run was started.
    #[oai(status = 201)]
    Created(Json<RunView>),
    /// A run with this idempotency key already exists; it is returned unchanged.
    #[oai(status = 200)]
    Existing(Json<RunView>),
}

#[derive(ApiResponse)]
enum EventResponse {
    /// The event was stored.
    #[oai(status = 202)]
    Accepted(Json<EventReceiptView>),
}

/// The id a list's `cursor` (a `next_cursor` it answered earlier) names: the page
/// continues after it. Any list paged by a time-ordered id uses it.
// ApiError is what every operation returns anyway.
#[allow(clippy::result_large_err)]
pub(super) fn page_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    cursor
        .map(|text| {
            Uuid::parse_str(text).map_err(|_| {
                ApiError::bad_request(format!("cursor `{text}` is not one this API issued"))
            })
        })
        .transpose()
}

/// The runs resource.
pub struct RunsApi {
    /// The engine.
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Runs")]
impl RunsApi {
    /// Start a run
    ///
    /// Starts a run of a workflow with the given input. With an `idempotency_key`, a
    /// repeated request returns the run the first one started (200) instead of a new one.
    #[oai(path = "/v1/runs", method = "post", operation_id = "start_run")]
    async fn start_run(
        &self,
        auth: ApiKey,
        body: Json<StartRunRequest>,
    ) -> Result<StartRunResponse, ApiError> {
        let caller = auth.require(Permission::StartRuns)?;
        let body = body.0;
        let workspace_id = caller.target_workspace(body.workspace_id).map_err(|id| {
            ApiError::not_found("workspace-not-found", format!("workspace `{id}` not found"))
        })?;
        // An id that cannot be a workspace's names none.
        let workspace_id = workspace_id
            .as_deref()
            .map(super::workspaces::workspace_id)
            .transpose()?;
        let (run, created) = self
            .engine
            .start_run(StartRun {
                workflow: body.workflow,
                input: body.input,
                workspace_id,
                idempotency_key: body.idempotency_key.map(IdempotencyKey::caller),
                initiator: caller.person.clone(),
            })
            .await?;
        Ok(if created {
            StartRunResponse::Created(Json(run.into()))
        } else {
            StartRunResponse::Existing(Json(run.into()))
        })
    }

    /// List runs
    ///
    /// Newest first, filtered by workflow, status and workspace; follow `next_cursor`.
    #[oai(path = "/v1/runs", method = "get", operation_id = "list_runs")]
    async fn list_runs(
        &self,
        auth: ApiKey,
        /// Only runs of this workflow.
        workflow: Query<Option<String>>,
        /// Only runs with this status.
        status: Query<Option<RunStatus>>,
        /// Only runs of this workspace.
        workspace_id: Query<Option<String>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<RunPage>, ApiError> {
        let before = page_cursor(cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50).min(MAX_PAGE);
        let filter = RunFilter {
            workflow: workflow.0,
            status: status.0.map(RunStatus::into),
            workspace_id: workspace_id.0,
            before,
            limit: i64::from(limit),
        };
        let runs = self.engine.list_visible_runs(&auth.0, filter).await?;
        let next_cursor = (runs.len() == limit as usize)
            .then(|| runs.last().map(|run| run.id.to_string()))
            .flatten();
        Ok(Json(RunPage {
            items: runs.into_iter().map(RunView::from).collect(),
            next_cursor,
        }))
    }

    /// Get a run
    ///
    /// The run with its step timeline (each step's status, attempts, output, error and
    /// timestamps) and its history.
    #[oai(path = "/v1/runs/:id", method = "get", operation_id = "get_run")]
    async fn get_run(&self, auth: ApiKey, id: Path<Uuid>) -> Result<Json<RunDetailView>, ApiError> {
        let detail = self
            .engine
            .visible_run_detail(&auth.0, RunId::from(id.0))
            .await?;
        Ok(Json(detail.into()))
    }

    /// Cancel a run
    ///
    /// Stops a run that has not finished; its pending steps never execute. A finished
    /// run answers 409.
    #[oai(
        path = "/v1/runs/:id/cancel",
        method = "post",
        operation_id = "cancel_run"
    )]
    async fn cancel_run(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<CancelRequest>,
    ) -> Result<Json<RunView>, ApiError> {
        let caller = auth.require(Permission::CancelRuns)?;
        let run = self
            .engine
            .cancel_run(RunId::from(id.0), &body.0.reason, Actor::Caller(caller))
            .await?;
        Ok(Json(run.into()))
    }

    /// Post an event to a run
    ///
    /// A `wait_event` step waiting for this name whose correlation value equals
    /// `correlation` resumes with `payload` as its output. Other events are kept and
    /// taken by a later matching step.
    #[oai(
        path = "/v1/runs/:id/events",
        method = "post",
        operation_id = "post_run_event"
    )]
    async fn post_event(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<EventRequest>,
    ) -> Result<EventResponse, ApiError> {
        let caller = auth.require(Permission::SendEvents)?;
        let body = body.0;
        let receipt = self
            .engine
            .post_event(
                RunId::from(id.0),
                &body.name,
                &body.correlation,
                &body.payload,
                Actor::Caller(caller),
            )
            .await?;
        Ok(EventResponse::Accepted(Json(EventReceiptView {
            event_id: receipt.event_id,
            matched: receipt.matched,
            run: receipt.run.into(),
        })))
    }

    /// Decide an approval step
    ///
    /// Approves or rejects the approval step the run is waiting at. A step that is not
    /// waiting answers 409; so does a second decision by the same person, and a step of a
    /// privacy or authority request's run, which is decided through that request's own
    /// endpoint (it records the decision with the request).
    #[oai(
        path = "/v1/runs/:id/steps/:step_id/decision",
        method = "post",
        operation_id = "decide_step"
    )]
    async fn decide(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        step_id: Path<String>,
        body: Json<DecisionRequest>,
    ) -> Result<Json<RunView>, ApiError> {
        let decision = match body.0.decision {
            DecisionValue::Approve => Decision::Approve,
            DecisionValue::Reject => Decision::Reject,
        };
        let run = self
            .engine
            .decide(
                RunId::from(id.0),
                &step_id.0,
                &auth.0,
                decision,
                &body.0.reason,
            )
            .await?;
        Ok(Json(run.into()))
    }
}
