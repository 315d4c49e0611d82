//! Executing step jobs: check the job is current, run the step, record the result and
//! move on, each change in one transaction with its history and the next job.
//!
//! A task attempt takes two transactions: one records that the attempt started (so an
//! attempt cut short by a crash is still on record), the other records how it ended and
//! enqueues what follows. No lock is held while the handler runs. The common claim (a due
//! task step, current generation) is a single statement; every other case takes the
//! general path, which locks the run and looks at the step first.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use rand::Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use super::definition::{RetryPolicy, Step, StepKind, TaskSpec, outcome};
use super::handlers::{HandlerCall, HandlerError, HandlerOutput};
use super::transition::Transition;
use super::{Engine, EngineError};
use crate::metrics::METRICS;
use crate::store;
use crate::store::jobs::StepJob;
use crate::store::steps::{AttemptResult, StepRow};

/// Early wake-ups shorter than this are slept off in place instead of re-enqueued.
const SLEEP_OFF_EARLY_WAKEUP: Duration = Duration::from_millis(1_500);

impl Engine {
    /// Handles one step job. Stale jobs (wrong generation, finished run) do nothing.
    pub async fn execute(&self, job: &StepJob, worker: &str) -> Result<(), EngineError> {
        if let Some(attempt) = self.claim_due_task(job, worker).await? {
            return self.run_attempt(job, attempt).await;
        }
        loop {
            match self.claim(job, worker).await? {
                Claim::Nothing => return Ok(()),
                Claim::Early(wait) => tokio::time::sleep(wait).await,
                Claim::Attempt(attempt) => return self.run_attempt(job, *attempt).await,
            }
        }
    }

    /// The fast claim: one statement starts the attempt of a due task step.
    async fn claim_due_task(
        &self,
        job: &StepJob,
        worker: &str,
    ) -> Result<Option<Attempt>, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let Some(claimed) = store::steps::claim_due_task(
            &mut conn,
            job.run_id,
            &job.step_id,
            job.generation,
            worker,
        )
        .await?
        else {
            return Ok(None);
        };
        let definition = self
            .catalog
            .pinned(&mut conn, &claimed.workflow, claimed.workflow_version)
            .await?;
        let step = definition
            .step(&job.step_id)
            .ok_or_else(|| EngineError::Definition(format!("step `{}` vanished", job.step_id)))?;
        let StepKind::Task(spec) = &step.kind else {
            return Err(EngineError::Definition(format!(
                "step `{}` is no longer a task",
                job.step_id
            )));
        };
        Ok(Some(Attempt::new(
            &claimed.workflow,
            job.run_id,
            step,
            spec,
            claimed.seq,
            claimed.attempt,
            claimed.context,
        )))
    }

    /// The general claim: decide what the job means now, and record an attempt start.
    async fn claim(&self, job: &StepJob, worker: &str) -> Result<Claim, EngineError> {
        let mut tx = self.pool.begin().await?;
        let Some(run) = store::runs::lock(&mut tx, job.run_id).await? else {
            return Ok(Claim::Nothing);
        };
        if run.is_finished()
            || run.generation != job.generation
            || run.current_step.as_deref() != Some(job.step_id.as_str())
        {
            return Ok(Claim::Nothing);
        }
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        let Some(mut row) = store::steps::get(&mut tx, run.id, run.current_seq).await? else {
            return Ok(Claim::Nothing);
        };
        let step = definition
            .step(&job.step_id)
            .ok_or_else(|| EngineError::Definition(format!("step `{}` vanished", job.step_id)))?;

        let now = Utc::now();
        if let Some(wake_at) = row.wake_at.filter(|at| *at > now) {
            let wait = (wake_at - now).to_std().unwrap_or_default();
            if wait <= SLEEP_OFF_EARLY_WAKEUP {
                return Ok(Claim::Early(wait));
            }
            let mut transition = Transition::new(&definition, run, None);
            transition.enqueue_current(Some(wake_at));
            transition.commit_changes(&mut tx).await?;
            tx.commit().await?;
            return Ok(Claim::Nothing);
        }

        match &step.kind {
            StepKind::Task(spec) => {
                if row.status == "running" {
                    // Only a redelivered job finds its step running: the worker that
                    // started the previous attempt died without finishing it.
                    store::steps::abandon_running_attempts(&mut tx, run.id, row.seq).await?;
                }
                row.attempts += 1;
                row.status = "running".to_owned();
                row.wake_at = None;
                row.started_at.get_or_insert(now);
                store::steps::save(&mut tx, &row).await?;
                store::steps::start_attempt(&mut tx, run.id, row.seq, row.attempts, worker).await?;
                tx.commit().await?;
                Ok(Claim::Attempt(Box::new(Attempt::new(
                    &run.workflow,
                    run.id,
                    step,
                    spec,
                    row.seq,
                    row.attempts,
                    run.context,
                ))))
            }
            StepKind::Approval(_) | StepKind::WaitEvent(_) => {
                // The deadline passed while the step was still waiting.
                let target = timeout_target(step);
                let mut transition = Transition::new(&definition, run, None);
                row.status = "timed_out".to_owned();
                row.outcome = Some(outcome::TIMEOUT.to_owned());
                row.finished_at = Some(now);
                transition.record("step_timed_out", Some(&step.id), json!({}));
                store::steps::save(&mut tx, &row).await?;
                let failure = format!("step `{}` timed out", step.id);
                transition.follow(&mut tx, target, Some(failure)).await?;
                transition.commit_changes(&mut tx).await?;
                tx.commit().await?;
                Ok(Claim::Nothing)
            }
            StepKind::Timer(_) => {
                let mut transition = Transition::new(&definition, run, None);
                transition.complete_row(&mut row, outcome::OK, &json!({ "woke_at": now }));
                store::steps::save(&mut tx, &row).await?;
                transition
                    .follow(&mut tx, step.target_for(outcome::OK), None)
                    .await?;
                transition.commit_changes(&mut tx).await?;
                tx.commit().await?;
                Ok(Claim::Nothing)
            }
        }
    }

    /// Calls the handler, then records the result in the second transaction.
    async fn run_attempt(&self, job: &StepJob, attempt: Attempt) -> Result<(), EngineError> {
        let started = std::time::Instant::now();
        let result = self.call_handler(&attempt).await;
        METRICS.observe_step(&attempt.workflow, &job.step_id, started.elapsed());
        let mut tx = self.pool.begin().await?;
        let Some((run, row)) =
            store::runs::lock_with_step(&mut tx, job.run_id, attempt.seq).await?
        else {
            return Ok(());
        };
        let number = attempt.call.attempt;
        let current = !run.is_finished()
            && run.generation == job.generation
            && run.current_seq == attempt.seq;
        let ended = attempt_result(&result);
        let Some(mut row) =
            row.filter(|row| current && row.attempts == number && row.status == "running")
        else {
            // The run moved on (cancelled) or another worker took the step over: keep the
            // attempt on record, change nothing else.
            store::steps::finish_stray_attempt(&mut tx, run.id, attempt.seq, number, &ended)
                .await?;
            tx.commit().await?;
            return Ok(());
        };
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        let step = definition
            .step(&job.step_id)
            .ok_or_else(|| EngineError::Definition(format!("step `{}` vanished", job.step_id)))?;
        let mut transition = Transition::new(&definition, run, None);
        match &result {
            Ok(output) => {
                transition.complete_row(&mut row, &output.outcome, &output.output);
                store::steps::finish_attempt(&mut tx, &row, number, &ended).await?;
                let target = step.target_for(&output.outcome);
                transition.follow(&mut tx, target, None).await?;
            }
            Err(failure)
                if failure.is_retryable() && (number as u32) < attempt.spec.retry.max_attempts =>
            {
                let error = failure.to_string();
                let delay =
                    jittered(&attempt.spec.retry, number as u32).max(failure.minimum_wait());
                let wake_at =
                    transition.now() + chrono::Duration::from_std(delay).unwrap_or_default();
                row.status = "retrying".to_owned();
                row.error = Some(error.clone());
                row.wake_at = Some(wake_at);
                store::steps::finish_attempt(&mut tx, &row, number, &ended).await?;
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
                store::steps::finish_attempt(&mut tx, &row, number, &ended).await?;
                let failure = format!("step `{}` failed: {error}", step.id);
                transition
                    .follow(&mut tx, step.target_for(outcome::FAILED), Some(failure))
                    .await?;
            }
        }
        transition.commit_changes(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn call_handler(&self, attempt: &Attempt) -> Result<HandlerOutput, HandlerError> {
        let Some(handler) = self.catalog.registry().get(&attempt.spec.handler) else {
            return Err(HandlerError::Fatal(format!(
                "handler `{}` is not registered in this process",
                attempt.spec.handler
            )));
        };
        let future = AssertUnwindSafe(handler.call(attempt.call.clone())).catch_unwind();
        match tokio::time::timeout(attempt.spec.timeout, future).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(HandlerError::Fatal(format!(
                "handler `{}` panicked",
                attempt.spec.handler
            ))),
            Err(_elapsed) => Err(HandlerError::Retryable(format!(
                "attempt timed out after {:?}",
                attempt.spec.timeout
            ))),
        }
    }
}

fn fail_step(
    transition: &mut Transition<'_>,
    row: &mut StepRow,
    step: &Step,
    error: &HandlerError,
) {
    let fatal = matches!(error, HandlerError::Fatal(_));
    row.status = "failed".to_owned();
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
fn attempt_result(result: &Result<HandlerOutput, HandlerError>) -> AttemptResult<'_> {
    match result {
        Ok(output) => AttemptResult {
            status: "succeeded",
            outcome: Some(&output.outcome),
            output: Some(&output.output),
            error: None,
            retryable: None,
        },
        Err(error) => AttemptResult {
            status: "failed",
            outcome: None,
            output: None,
            error: Some(match error {
                HandlerError::Retryable(text)
                | HandlerError::Fatal(text)
                | HandlerError::RateLimited(text, _) => text,
            }),
            retryable: Some(error.is_retryable()),
        },
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

fn timeout_target(step: &Step) -> super::definition::Target {
    match &step.kind {
        StepKind::Approval(spec) => spec.on_timeout,
        StepKind::WaitEvent(spec) => spec.on_timeout,
        _ => super::definition::Target::Fail,
    }
}

enum Claim {
    Nothing,
    Early(Duration),
    Attempt(Box<Attempt>),
}

struct Attempt {
    workflow: String,
    spec: TaskSpec,
    seq: i32,
    call: HandlerCall,
}

impl Attempt {
    fn new(
        workflow: &str,
        run_id: Uuid,
        step: &Step,
        spec: &TaskSpec,
        seq: i32,
        number: i32,
        context: Value,
    ) -> Self {
        Self {
            workflow: workflow.to_owned(),
            spec: spec.clone(),
            seq,
            call: HandlerCall {
                run_id,
                step_id: step.id.clone(),
                attempt: number,
                context,
                params: spec.params.clone(),
            },
        }
    }
}
