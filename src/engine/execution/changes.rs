//! What a batch of run changes writes, gathered first and then written with one statement
//! per table, in the order foreign keys need; what a start writes, in one statement.

use crate::engine::ENGINE_ACTOR;
use crate::engine::EngineError;
use crate::metrics::{Counter, METRICS};
use crate::store;
use crate::store::attempts::{FinishedAttempt, StartedAttempt};
use crate::store::history::NewHistory;
use crate::store::jobs::{HeldJob, PendingJob};
use crate::store::runs::RunRow;
use crate::store::starts::NewStart;
use crate::store::steps::StepRow;
use sqlx::PgConnection;

/// The log target of run and step lines (`BAZAARSTREET_LOG=bazaarstreet::runs=warn`
/// keeps only failures).
pub const RUN_LOG: &str = "bazaarstreet::runs";

/// Rows to write for one or many runs, or for one start.
#[derive(Default)]
pub struct ChangeSet {
    /// A run being started, as the start left it, with its history. A start's change set
    /// holds nothing else but the steps it entered, its jobs and its held job: it is
    /// written in one statement (src/store/starts.rs).
    pub started: Option<(RunRow, Vec<NewHistory>)>,
    /// Attempts that ended.
    pub finished_attempts: Vec<FinishedAttempt>,
    /// Step visits whose state changed.
    pub saved_steps: Vec<StepRow>,
    /// Step visits entered.
    pub new_steps: Vec<StepRow>,
    /// Attempts started with their step (runs continued inline).
    pub started_attempts: Vec<StartedAttempt>,
    /// Step jobs to enqueue.
    pub jobs: Vec<PendingJob>,
    /// Runs with the history entries describing their change.
    pub runs: Vec<(RunRow, Vec<NewHistory>)>,
    /// A job handed to this process's eager worker, with the attempt it starts.
    pub held: Option<HeldJob>,
}

impl ChangeSet {
    /// Writes everything in the caller's transaction; a start's change set is one
    /// statement and needs none.
    ///
    /// A run being started whose idempotency key another start took meanwhile is
    /// [`EngineError::StartRaced`], and nothing is written.
    pub async fn write(&self, conn: &mut PgConnection) -> Result<(), EngineError> {
        if let Some((run, history)) = &self.started {
            return self.write_start(conn, run, history).await;
        }
        store::attempts::finish_many(conn, &self.finished_attempts).await?;
        store::steps::save_many(conn, &self.saved_steps).await?;
        store::steps::insert_many(conn, &self.new_steps).await?;
        store::attempts::start_many(conn, &self.started_attempts).await?;
        store::jobs::push(conn, &self.jobs).await?;
        if let Some(held) = &self.held {
            store::jobs::push_held(conn, held).await?;
        }
        let runs: Vec<(&RunRow, &[NewHistory])> = self
            .runs
            .iter()
            .map(|(run, history)| (run, history.as_slice()))
            .collect();
        store::runs::save_many(conn, &runs, ENGINE_ACTOR).await?;
        self.observe();
        Ok(())
    }

    /// Logs and counts what the written changes did to their runs: a line per run start
    /// and end and per step failure, with ids only (never inputs, outputs or error text,
    /// which can hold personal data). Counted when written: the rare transaction that
    /// then fails to commit is repeated and may be counted once more.
    fn observe(&self) {
        for (run, history) in self.started.iter().chain(&self.runs) {
            for entry in history {
                observe_entry(run, entry);
            }
        }
    }

    async fn write_start(
        &self,
        conn: &mut PgConnection,
        run: &RunRow,
        history: &[NewHistory],
    ) -> Result<(), EngineError> {
        // Only a starting transition makes a start's changes, and it has no other rows;
        // writing some of a change set would break its atomicity, so this is checked.
        assert!(
            self.finished_attempts.is_empty()
                && self.saved_steps.is_empty()
                && self.started_attempts.is_empty()
                && self.runs.is_empty(),
            "a start's changes hold rows its one statement does not write"
        );
        let start = NewStart {
            run,
            history,
            steps: &self.new_steps,
            jobs: &self.jobs,
            held: self.held.as_ref(),
            engine_actor: ENGINE_ACTOR,
        };
        if store::starts::insert(conn, &start).await? {
            self.observe();
            Ok(())
        } else {
            Err(EngineError::StartRaced)
        }
    }
}

/// The log line and counter of one history entry, if it is one an operator follows.
fn observe_entry(run: &RunRow, entry: &NewHistory) {
    let workflow = run.workflow.as_str();
    let step = entry.step_id.as_deref().unwrap_or_default();
    let failed = |kind: &str| {
        METRICS.count(
            Counter::StepFailures,
            &[("workflow", workflow), ("step", step), ("kind", kind)],
        );
    };
    match entry.kind {
        "run_started" => {
            METRICS.count(Counter::RunsStarted, &[("workflow", workflow)]);
            tracing::info!(
                target: RUN_LOG,
                event = entry.kind,
                run.id = %run.id,
                workflow.name = workflow,
                workflow.version = run.workflow_version,
                workspace.id = run.workspace_id.as_deref(),
                "run started"
            );
        }
        "run_succeeded" | "run_failed" | "run_cancelled" => {
            METRICS.count(
                Counter::RunsFinished,
                &[("workflow", workflow), ("status", run.status.as_str())],
            );
            tracing::info!(
                target: RUN_LOG,
                event = entry.kind,
                run.id = %run.id,
                workflow.name = workflow,
                run.status = %run.status,
                "run finished"
            );
        }
        "step_retry_scheduled" => {
            failed("retryable");
            METRICS.count(
                Counter::StepRetries,
                &[("workflow", workflow), ("step", step)],
            );
            tracing::warn!(
                target: RUN_LOG,
                event = entry.kind,
                run.id = %run.id,
                workflow.name = workflow,
                step.id = step,
                step.attempt = %entry.data["attempt"],
                "step attempt failed; another is scheduled"
            );
        }
        "step_timed_out" if entry.data["until"] == true => {
            tracing::debug!(
                target: RUN_LOG,
                event = entry.kind,
                run.id = %run.id,
                workflow.name = workflow,
                step.id = step,
                "wait reached its instant"
            );
        }
        "step_failed" | "step_timed_out" => {
            let kind = if entry.kind == "step_timed_out" {
                "timeout"
            } else if entry.data["fatal"] == true {
                "fatal"
            } else {
                "attempts_exhausted"
            };
            failed(kind);
            tracing::warn!(
                target: RUN_LOG,
                event = entry.kind,
                run.id = %run.id,
                workflow.name = workflow,
                step.id = step,
                failure = kind,
                "step failed"
            );
        }
        _ => {}
    }
}
