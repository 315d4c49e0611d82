//! Recording how attempts ended: a batch of completions in one transaction, each moving
//! its run on (or scheduling a retry, or failing the step), and continuing the run in the
//! same worker when its next step is a task due now.

use crate::engine::{AttemptStatus, StepStatus};
use crate::store::ids::RunId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use sqlx::PgConnection;

use crate::engine::definitions::definition::{RetryPolicy, Step, outcome};
use crate::engine::execution::attempt::{Attempt, pinned_step};
use crate::engine::execution::changes::ChangeSet;
use crate::engine::execution::group_commit::RunRequest;
use crate::engine::execution::transition::Transition;
use crate::engine::handlers::{HandlerError, HandlerOutput};
use crate::engine::{Engine, EngineError};
use crate::store;
use crate::store::attempts::FinishedAttempt;
use crate::store::jobs::StepJob;
use crate::store::runs::RunRow;
use crate::store::steps::StepRow;

impl Engine {
    /// Records a batch of ended attempts and what follows from each, in one transaction.
    pub(in crate::engine) async fn complete_batch(
        &self,
        completions: Vec<Arc<Completion>>,
    ) -> Result<Vec<Continued>, EngineError> {
        let mut tx = self.pool.begin().await?;
        let wanted: Vec<(RunId, i32)> = completions
            .iter()
            .map(|done| (done.job.run_id, done.seq))
            .collect();
        let run_ids: Vec<RunId> = wanted.iter().map(|(id, _)| *id).collect();
        let mut runs: HashMap<RunId, RunRow> = store::runs::lock_many(&mut tx, &run_ids)
            .await?
            .into_iter()
            .map(|run| (run.id, run))
            .collect();
        let mut rows: HashMap<RunId, StepRow> = store::steps::get_many(&mut tx, &wanted)
            .await?
            .into_iter()
            .map(|row| (row.run_id, row))
            .collect();
        let mut changes = ChangeSet::default();
        let mut answers = Vec::with_capacity(completions.len());
        for done in &completions {
            let answer = match runs.remove(&done.job.run_id) {
                Some(run) => {
                    let row = rows.remove(&done.job.run_id);
                    self.complete(&mut tx, done, run, row, &mut changes).await?
                }
                None => None,
            };
            answers.push(answer);
        }
        changes.write(&mut tx).await?;
        tx.commit().await?;
        Ok(answers)
    }

    /// Adds to `changes` what one ended attempt means for its locked run.
    async fn complete(
        &self,
        conn: &mut PgConnection,
        done: &Completion,
        run: RunRow,
        row: Option<StepRow>,
        changes: &mut ChangeSet,
    ) -> Result<Continued, EngineError> {
        let number = done.attempt;
        let current = !run.is_finished()
            && run.generation == done.job.generation
            && run.current_seq == done.seq;
        changes.finished_attempts.push(finished_attempt(done));
        let Some(mut row) = row
            .filter(|row| current && row.attempts == number && row.status == StepStatus::Running)
        else {
            // The run moved on (cancelled) or another worker took the step over: keep the
            // attempt on record, change nothing else.
            return Ok(None);
        };
        let definition = self
            .catalog
            .pinned(conn, &run.workflow, run.workflow_version)
            .await?;
        let step = pinned_step(&definition, &done.job.step_id)?;
        let mut transition = Transition::new(&definition, run, None);
        match &done.result {
            Ok(output) => {
                transition.complete_row(&mut row, &output.outcome, &output.output);
                changes.saved_steps.push(row);
                let target = step.target_for(&output.outcome);
                transition.follow(conn, target, None).await?;
            }
            Err(failure) if failure.is_retryable() && (number as u32) < done.retry.max_attempts => {
                let error = failure.to_string();
                let delay = jittered(&done.retry, number as u32).max(failure.minimum_wait());
                let wake_at =
                    transition.now() + chrono::Duration::from_std(delay).unwrap_or_default();
                row.status = StepStatus::Retrying;
                row.error = Some(error.clone());
                row.wake_at = Some(wake_at);
                changes.saved_steps.push(row);
                transition.bump_generation();
                transition.enqueue_current(Some(wake_at));
                transition.record(
                    "step_retry_scheduled",
                    Some(&step.id),
                    json!({ "attempt": number, "error": error, "retry_at": wake_at }),
                );
            }
            Err(error) => {
                fail_step(&mut transition, &mut row, step, error);
                changes.saved_steps.push(row);
                let failure = format!("step `{}` failed: {error}", step.id);
                transition
                    .follow(conn, step.target_for(outcome::FAILED), Some(failure))
                    .await?;
            }
        }
        let continued = done
            .continue_as
            .as_deref()
            .and_then(|worker| transition.continue_inline(worker));
        let run = transition.into_changes(changes);
        let Some(next_job) = continued else {
            return Ok(None);
        };
        let attempt = Attempt::of_task(
            &definition,
            &next_job.step_id,
            run.id,
            run.current_seq,
            1,
            run.context,
        )?;
        Ok(Some((next_job, Box::new(attempt))))
    }
}

fn fail_step(
    transition: &mut Transition<'_>,
    row: &mut StepRow,
    step: &Step,
    error: &HandlerError,
) {
    let fatal = matches!(error, HandlerError::Fatal(_));
    row.status = StepStatus::Failed;
    row.outcome = Some(outcome::FAILED.to_owned());
    row.error = Some(error.to_string());
    row.wake_at = None;
    row.finished_at = Some(transition.now());
    transition.record(
        "step_failed",
        Some(&step.id),
        json!({ "error": error.to_string(), "fatal": fatal, "attempts": row.attempts }),
    );
}

/// How an attempt ended, in the shape the attempt table stores.
fn finished_attempt(done: &Completion) -> FinishedAttempt {
    let (status, outcome, output, error, retryable) = match &done.result {
        Ok(output) => (
            AttemptStatus::Succeeded,
            Some(output.outcome.clone()),
            Some(output.output.clone()),
            None,
            None,
        ),
        Err(error) => (
            AttemptStatus::Failed,
            None,
            None,
            Some(match error {
                HandlerError::Retryable(text)
                | HandlerError::Fatal(text)
                | HandlerError::RateLimited(text, _) => text.clone(),
            }),
            Some(error.is_retryable()),
        ),
    };
    FinishedAttempt {
        run_id: done.job.run_id,
        seq: done.seq,
        attempt: done.attempt,
        status,
        outcome,
        output,
        error,
        retryable,
    }
}

/// Backoff with "equal jitter": half the delay fixed, half random, so retries of many
/// runs that failed together spread out.
fn jittered(policy: &RetryPolicy, attempt: u32) -> Duration {
    let delay = policy.delay_after(attempt);
    let half = delay / 2;
    let spread = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(spread)
}

/// An attempt that ended, waiting to be recorded.
pub(in crate::engine) struct Completion {
    pub(in crate::engine) job: StepJob,
    pub(in crate::engine) seq: i32,
    pub(in crate::engine) attempt: i32,
    pub(in crate::engine) retry: RetryPolicy,
    pub(in crate::engine) result: Result<HandlerOutput, HandlerError>,
    /// The worker that may run the next step at once, if it is a task due now.
    pub(in crate::engine) continue_as: Option<String>,
}

/// The next attempt a worker runs at once, with the job it is current for.
pub(in crate::engine) type Continued = Option<(StepJob, Box<Attempt>)>;

impl RunRequest for Completion {
    fn run_id(&self) -> RunId {
        self.job.run_id
    }
}
