//! Response bodies for runs, built from the engine's rows.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde_json::Value;
use uuid::Uuid;

use crate::engine::commands::queries::RunDetail;
use crate::engine::{self, Attempt, HistoryEntry, Run, StepVisit};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RunStatus {
    /// A task step is queued or executing.
    Running,
    /// Parked on an approval, an event or a timer.
    Waiting,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl From<engine::RunStatus> for RunStatus {
    fn from(status: engine::RunStatus) -> Self {
        match status {
            engine::RunStatus::Running => RunStatus::Running,
            engine::RunStatus::Waiting => RunStatus::Waiting,
            engine::RunStatus::Succeeded => RunStatus::Succeeded,
            engine::RunStatus::Failed => RunStatus::Failed,
            engine::RunStatus::Cancelled => RunStatus::Cancelled,
        }
    }
}

impl From<RunStatus> for engine::RunStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Running => engine::RunStatus::Running,
            RunStatus::Waiting => engine::RunStatus::Waiting,
            RunStatus::Succeeded => engine::RunStatus::Succeeded,
            RunStatus::Failed => engine::RunStatus::Failed,
            RunStatus::Cancelled => engine::RunStatus::Cancelled,
        }
    }
}

/// A workflow run.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct RunView {
    /// Run id.
    pub id: Uuid,
    /// Workflow name.
    pub workflow: String,
    /// Definition version the run is pinned to.
    pub workflow_version: i32,
    /// Workspace the run belongs to.
    pub workspace_id: Option<String>,
    /// Where the run stands.
    pub status: RunStatus,
    /// Step the run is at (absent once finished).
    pub current_step: Option<String>,
    /// Input the run started with.
    pub input: Value,
    /// Why the run failed.
    pub error: Option<String>,
    /// Why the run was cancelled.
    pub cancel_reason: Option<String>,
    /// Who started the run.
    pub initiator: String,
    /// Idempotency key given at start.
    pub idempotency_key: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Run> for RunView {
    fn from(run: Run) -> Self {
        Self {
            id: run.id.uuid(),
            workflow: run.workflow,
            workflow_version: run.workflow_version,
            workspace_id: run.workspace_id.map(String::from),
            status: run.status.into(),
            current_step: run.current_step,
            input: run.input,
            error: run.error,
            cancel_reason: run.cancel_reason,
            initiator: run.initiator,
            idempotency_key: run.idempotency_key,
            created_at: run.created_at,
            updated_at: run.updated_at,
            finished_at: run.finished_at,
        }
    }
}

/// A run with its step timeline and history.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RunDetailView {
    /// The run.
    #[oai(flatten)]
    pub run: RunView,
    /// `{input, steps: {step_id: output}}`.
    pub context: Value,
    /// Step visits in order.
    pub steps: Vec<StepView>,
    /// Everything that happened, in order.
    pub history: Vec<HistoryView>,
    /// Where the run stands against its workflow's `sla` (absent without one).
    pub sla: Option<RunSlaView>,
}

/// A run against its workflow's `sla`.
#[derive(Debug, Clone, Object)]
pub struct RunSlaView {
    /// Started + `sla`.
    pub due_at: DateTime<Utc>,
    /// `on_track`, `due_soon` (inside a fifth of the `sla`, at most 7 days) or `overdue`;
    /// a finished run keeps the state it finished in.
    pub state: String,
}

/// One visit of a step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StepView {
    /// Visit number within the run.
    pub seq: i32,
    /// Step id.
    pub step_id: String,
    /// task, approval, wait_event or timer.
    pub kind: String,
    /// pending, running, retrying, waiting, succeeded, failed, cancelled or timed_out.
    pub status: String,
    /// Attempts started.
    pub attempts: i32,
    /// Each attempt of a task step.
    pub attempt_log: Vec<AttemptView>,
    /// Outcome that chose the next step.
    pub outcome: Option<String>,
    /// Output.
    pub output: Option<Value>,
    /// Last error.
    pub error: Option<String>,
    /// When a timer, retry or deadline falls due.
    pub wake_at: Option<DateTime<Utc>>,
    /// Entered.
    pub created_at: DateTime<Utc>,
    /// First attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt of a task step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptView {
    /// 1-based attempt number.
    pub attempt: i32,
    /// Worker that ran it.
    pub worker: String,
    /// running, succeeded, failed or abandoned.
    pub status: String,
    /// Outcome of a success.
    pub outcome: Option<String>,
    /// Error of a failure.
    pub error: Option<String>,
    /// Whether the failure was retryable.
    pub retryable: Option<bool>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Attempt> for AttemptView {
    fn from(row: Attempt) -> Self {
        Self {
            attempt: row.attempt,
            worker: row.worker,
            status: row.status.to_string(),
            outcome: row.outcome,
            error: row.error,
            retryable: row.retryable,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HistoryView {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: String,
    /// Step it happened to.
    pub step_id: Option<String>,
    /// Who caused it.
    pub actor: Option<String>,
    /// Details.
    pub data: Value,
}

impl From<HistoryEntry> for HistoryView {
    fn from(row: HistoryEntry) -> Self {
        Self {
            id: row.id,
            at: row.at,
            kind: row.kind,
            step_id: row.step_id,
            actor: row.actor,
            data: row.data,
        }
    }
}

impl From<RunDetail> for RunDetailView {
    fn from(detail: RunDetail) -> Self {
        let mut attempts = detail.attempts;
        let steps = detail
            .steps
            .into_iter()
            .map(|step: StepVisit| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    attempts.drain(..).partition(|a| a.seq == step.seq);
                attempts = rest;
                StepView {
                    seq: step.seq,
                    step_id: step.step_id,
                    kind: step.kind,
                    status: step.status.to_string(),
                    attempts: step.attempts,
                    attempt_log: mine.into_iter().map(AttemptView::from).collect(),
                    outcome: step.outcome,
                    output: step.output,
                    error: step.error,
                    wake_at: step.wake_at,
                    created_at: step.created_at,
                    started_at: step.started_at,
                    finished_at: step.finished_at,
                }
            })
            .collect();
        let context = detail.run.context.clone();
        Self {
            run: detail.run.into(),
            context,
            steps,
            history: detail.history.into_iter().map(HistoryView::from).collect(),
            sla: detail.sla.map(|sla| RunSlaView {
                due_at: sla.due_at,
                state: sla.state.as_str().to_owned(),
            }),
        }
    }
}
