//! Executing step jobs: check the job is current, run the step, record the result and
//! move on, each change in one transaction with its history and the next job.
//!
//! A task attempt's start is committed before its handler runs (so an attempt cut short by
//! a crash is still on record) and its end after, with what follows; an attempt continued
//! inline has its start committed with the end of the step before it. No lock is held
//! while the handler runs. Both go through the
//! process's [`StepWriters`]: the common claim (a due task step, current generation) of
//! every job a worker holds is one statement, and the completions that pile up while one
//! batch commits are written by the next, in one transaction ([`crate::engine::execution::completion`]).
//! Every other case takes the general path, which locks the run and looks at the step
//! first.

use crate::engine::StepStatus;
use crate::store::ids::RunId;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use serde_json::json;

use sqlx::PgConnection;

use crate::engine::definitions::definition::{Definition, Step, StepKind, outcome};
use crate::engine::execution::attempt::{Attempt, pinned_step};
use crate::engine::execution::completion::{Completion, Continued};
use crate::engine::execution::group_commit::{GroupCommit, RunRequest};
use crate::engine::execution::transition::Transition;
use crate::engine::handlers::{HandlerError, HandlerOutput, storable};
use crate::engine::{Engine, EngineError};
use crate::metrics::METRICS;
use crate::store;
use crate::store::attempts::{ClaimRequest, ClaimedTask};
use crate::store::jobs::{PendingJob, StepJob};
use crate::store::runs::RunRow;

/// Early wake-ups shorter than this are slept off in place instead of re-enqueued.
const SLEEP_OFF_EARLY_WAKEUP: Duration = Duration::from_millis(1_500);

impl Engine {
    /// Handles one step job. Stale jobs (wrong generation, finished run) do nothing.
    pub async fn execute(
        &self,
        writers: &StepWriters,
        job: &StepJob,
        worker: &str,
    ) -> Result<(), EngineError> {
        let request = ClaimRequest {
            run_id: job.run_id,
            step_id: job.step_id.clone(),
            generation: job.generation,
            worker: worker.to_owned(),
        };
        if let Some(attempt) = writers.claims.submit(request).await?? {
            return self
                .run_for_job(writers, worker, job, job.clone(), attempt)
                .await;
        }
        loop {
            let continue_as = writers.continuing().then_some(worker);
            match self
                .claim(job, worker, writers.dead_after, continue_as)
                .await?
            {
                Claim::Nothing => return Ok(()),
                Claim::Early(wait) => tokio::time::sleep(wait).await,
                Claim::Attempt(current, attempt) => {
                    return self
                        .run_for_job(writers, worker, job, current, *attempt)
                        .await;
                }
            }
        }
    }

    /// The fast claim of a batch of jobs: one statement starts the attempts of the due
    /// task steps among them; the others are answered `None` and take the general path.
    async fn claim_batch(
        &self,
        requests: Vec<Arc<ClaimRequest>>,
    ) -> Result<Vec<Result<Option<Attempt>, EngineError>>, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let mut claimed: HashMap<RunId, ClaimedTask> =
            store::attempts::claim_due_tasks(&mut conn, &requests)
                .await?
                .into_iter()
                .map(|task| (task.run_id, task))
                .collect();
        let mut answers = Vec::with_capacity(requests.len());
        for request in &requests {
            let answer = match claimed.remove(&request.run_id) {
                None => Ok(None),
                Some(task) => self
                    .claimed_attempt(&mut conn, &request.step_id, task)
                    .await
                    .map(Some),
            };
            answers.push(answer);
        }
        Ok(answers)
    }

    /// The attempt a fast claim started, with the step's spec from the pinned definition.
    async fn claimed_attempt(
        &self,
        conn: &mut PgConnection,
        step_id: &str,
        task: ClaimedTask,
    ) -> Result<Attempt, EngineError> {
        let definition = self
            .catalog
            .pinned(conn, &task.workflow, task.workflow_version)
            .await?;
        Attempt::of_task(
            &definition,
            step_id,
            task.run_id,
            task.seq,
            task.attempt,
            task.context,
        )
    }

    /// The general claim: decide what the job means now, and record an attempt start.
    /// A wait or timer that ends and leads to a task step due now continues with it here
    /// for `continue_as` (the attempt start is written with the transition), as a
    /// completed task's successor does: the step needs no job of its own.
    async fn claim(
        &self,
        job: &StepJob,
        worker: &str,
        dead_after: Duration,
        continue_as: Option<&str>,
    ) -> Result<Claim, EngineError> {
        let mut tx = self.pool.begin().await?;
        let Some(run) = store::runs::lock(&mut tx, job.run_id).await? else {
            return Ok(Claim::Nothing);
        };
        if run.is_finished() {
            return Ok(Claim::Nothing);
        }
        let Some(current_step) = run.current_step.clone() else {
            return Ok(Claim::Nothing);
        };
        if run.generation != job.generation || current_step != job.step_id {
            // A stale job. One exception: the job that started a chain of steps continued
            // inline (docs/ARCHITECTURE.md) is the only job of that run, and apalis hands it
            // on when its worker dies; it takes the run over if the step the chain was
            // running is orphaned (its worker stopped heartbeating, or cut it short).
            let orphaned = store::attempts::orphaned(
                &mut tx,
                run.id,
                run.current_seq,
                dead_after.as_secs_f64(),
            )
            .await?;
            if !orphaned {
                return Ok(Claim::Nothing);
            }
        }
        let job = &StepJob {
            run_id: run.id,
            step_id: current_step,
            generation: run.generation,
        };
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        let Some(mut row) = store::steps::get(&mut tx, run.id, run.current_seq).await? else {
            return Ok(Claim::Nothing);
        };
        let step = pinned_step(&definition, &job.step_id)?;

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
                if row.status == StepStatus::Running {
                    // A redelivered job finds its step running. apalis redelivers when the
                    // attempt's worker missed heartbeats by its own count, which rounds
                    // down to whole seconds: a live, busy worker's job can come back. Take
                    // the step over only when it is orphaned by our full-precision count
                    // (or its live process cut it short); otherwise look again once it
                    // would be: a live worker finishes its own attempt, and this job is
                    // stale by then.
                    let orphaned = store::attempts::orphaned(
                        &mut tx,
                        run.id,
                        row.seq,
                        dead_after.as_secs_f64(),
                    )
                    .await?;
                    if !orphaned {
                        return Ok(Claim::Early(dead_after));
                    }
                    store::attempts::abandon_running(&mut tx, run.id, row.seq).await?;
                }
                row.attempts += 1;
                row.status = StepStatus::Running;
                row.wake_at = None;
                row.started_at.get_or_insert(now);
                store::steps::save(&mut tx, &row).await?;
                store::attempts::start(&mut tx, run.id, row.seq, row.attempts, worker).await?;
                tx.commit().await?;
                Ok(Claim::Attempt(
                    job.clone(),
                    Box::new(Attempt::new(
                        &run.workflow,
                        run.id,
                        step,
                        spec,
                        row.seq,
                        row.attempts,
                        run.context,
                    )),
                ))
            }
            StepKind::Approval(_) | StepKind::WaitEvent(_) => {
                // The deadline passed while the step was still waiting.
                let target = timeout_target(step);
                let mut transition = Transition::new(&definition, run, None);
                row.status = StepStatus::TimedOut;
                row.outcome = Some(outcome::TIMEOUT.to_owned());
                row.finished_at = Some(now);
                // A wait until an instant that arrived is a timer firing, not a failure.
                let until = matches!(&step.kind, StepKind::WaitEvent(spec) if spec.until.is_some());
                let data = if until {
                    json!({ "until": true })
                } else {
                    json!({})
                };
                transition.record("step_timed_out", Some(&step.id), data);
                store::steps::save(&mut tx, &row).await?;
                let failure = format!("step `{}` timed out", step.id);
                transition.follow(&mut tx, target, Some(failure)).await?;
                let continued = continue_as.and_then(|worker| transition.continue_inline(worker));
                let run = transition.commit_changes(&mut tx).await?;
                tx.commit().await?;
                Claim::continued(&definition, run, continued)
            }
            StepKind::Timer(_) => {
                let mut transition = Transition::new(&definition, run, None);
                transition.complete_row(&mut row, outcome::OK, &json!({ "woke_at": now }));
                store::steps::save(&mut tx, &row).await?;
                transition
                    .follow(&mut tx, step.target_for(outcome::OK), None)
                    .await?;
                let continued = continue_as.and_then(|worker| transition.continue_inline(worker));
                let run = transition.commit_changes(&mut tx).await?;
                tx.commit().await?;
                Claim::continued(&definition, run, continued)
            }
        }
    }

    /// Runs `attempt` of the step `current` names for apalis job `job`. If the database
    /// fails the chain after it moved past `job`'s step, the step it reached is queued
    /// afresh: apalis will only run `job` again, which is stale by then, and the step
    /// would stay `running` on this live worker with nothing running it.
    async fn run_for_job(
        &self,
        writers: &StepWriters,
        worker: &str,
        job: &StepJob,
        mut current: StepJob,
        attempt: Attempt,
    ) -> Result<(), EngineError> {
        let result = self
            .run_attempt(writers, worker, &mut current, attempt)
            .await;
        if result.is_err() {
            self.abandon_cut_short(&current, worker).await;
        }
        if result.is_err() && current != *job {
            let pending = [PendingJob {
                job: current,
                not_before: None,
            }];
            keep_trying("queue the step a failed chain reached", || async {
                let mut conn = self.pool.acquire().await?;
                store::jobs::push(&mut conn, &pending).await?;
                Ok(())
            })
            .await;
        }
        result
    }

    /// Says that the attempt `worker` was running for `job`'s run was cut short (the
    /// database refused its end), so the job that picks the step up next takes it over at
    /// once instead of waiting for this live worker to fall silent.
    pub(in crate::engine) async fn abandon_cut_short(&self, job: &StepJob, worker: &str) {
        keep_trying("record a cut-short attempt as abandoned", || async {
            let mut conn = self.pool.acquire().await?;
            store::attempts::abandon_cut_short(&mut conn, job.run_id, worker).await?;
            Ok(())
        })
        .await;
    }

    /// Calls the handler, then records the result through the completion writers; while
    /// the run moves straight on to another task step, continues with it here. `job`
    /// follows the run: on an error it names the step whose attempt was cut short.
    pub(in crate::engine) async fn run_attempt(
        &self,
        writers: &StepWriters,
        worker: &str,
        job: &mut StepJob,
        attempt: Attempt,
    ) -> Result<(), EngineError> {
        let mut attempt = attempt;
        loop {
            let started = std::time::Instant::now();
            let result = self.call_handler(&attempt).await;
            METRICS.observe_step(&attempt.workflow, &job.step_id, started.elapsed());
            let completion = Completion {
                job: job.clone(),
                seq: attempt.seq,
                attempt: attempt.call.attempt,
                retry: attempt.spec.retry,
                result,
                continue_as: writers.continuing().then(|| worker.to_owned()),
            };
            match writers.completions.submit(completion).await? {
                Some((next_job, next)) => {
                    *job = next_job;
                    attempt = *next;
                }
                None => return Ok(()),
            }
        }
    }

    #[tracing::instrument(
        name = "step",
        skip_all,
        fields(
            run.id = %attempt.call.run_id,
            workflow.name = %attempt.workflow,
            step.id = %attempt.call.step_id,
            step.attempt = attempt.call.attempt,
            handler = %attempt.spec.handler,
        )
    )]
    async fn call_handler(&self, attempt: &Attempt) -> Result<HandlerOutput, HandlerError> {
        let Some(handler) = self.catalog.registry().get(&attempt.spec.handler) else {
            return Err(HandlerError::Fatal(format!(
                "handler `{}` is not registered in this process",
                attempt.spec.handler
            )));
        };
        let future = AssertUnwindSafe(handler.call(attempt.call.clone())).catch_unwind();
        match tokio::time::timeout(attempt.spec.timeout, future).await {
            Ok(Ok(result)) => storable(&attempt.spec.handler, result),
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

/// Runs `write` until it succeeds, pausing longer after each failure (up to 5 s): for the
/// writes that recovery depends on, made while the database may be away.
pub(in crate::engine) async fn keep_trying<F, Fut>(what: &str, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), EngineError>>,
{
    let mut pause = Duration::from_millis(100);
    while let Err(error) = write().await {
        tracing::warn!(error = %error, "could not {what}; trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

fn timeout_target(step: &Step) -> crate::engine::definitions::definition::Target {
    match &step.kind {
        StepKind::Approval(spec) => spec.on_timeout,
        StepKind::WaitEvent(spec) => spec.on_timeout,
        _ => crate::engine::definitions::definition::Target::Fail,
    }
}

enum Claim {
    Nothing,
    Early(Duration),
    /// An attempt to run, with the job it is current for.
    Attempt(StepJob, Box<Attempt>),
}

impl Claim {
    /// The first attempt of the task step a transition continued with inline (its start
    /// already written with `run`), or nothing when the run parked elsewhere.
    fn continued(
        definition: &Definition,
        run: RunRow,
        continued: Option<StepJob>,
    ) -> Result<Self, EngineError> {
        let Some(job) = continued else {
            return Ok(Self::Nothing);
        };
        let attempt = Attempt::of_task(
            definition,
            &job.step_id,
            run.id,
            run.current_seq,
            1,
            run.context,
        )?;
        Ok(Self::Attempt(job, Box::new(attempt)))
    }
}

impl RunRequest for ClaimRequest {
    fn run_id(&self) -> RunId {
        self.run_id
    }
}

/// The group-commit writers of one worker process: fast claims and completions, each
/// batch in one statement or transaction.
#[derive(Clone)]
pub struct StepWriters {
    claims: GroupCommit<ClaimRequest, Result<Option<Attempt>, EngineError>>,
    completions: GroupCommit<Completion, Continued>,
    /// Silence after which a worker is presumed dead (its chains may be taken over).
    dead_after: Duration,
    /// Set on shutdown: finish the step in hand, continue no run inline.
    stopping: Arc<AtomicBool>,
}

impl StepWriters {
    /// Starts `writers` claim writers and as many completion writers for `engine`, each
    /// writing at most `max_batch` requests at a time. A worker silent for `dead_after` is
    /// presumed dead.
    pub fn spawn(engine: &Engine, writers: usize, max_batch: usize, dead_after: Duration) -> Self {
        let claiming = engine.clone();
        let claims = GroupCommit::spawn(
            writers,
            max_batch,
            Arc::new(move |requests| {
                let engine = claiming.clone();
                Box::pin(async move { engine.claim_batch(requests).await })
            }),
        );
        let completing = engine.clone();
        let completions = GroupCommit::spawn(
            writers,
            max_batch,
            Arc::new(move |requests| {
                let engine = completing.clone();
                Box::pin(async move { engine.complete_batch(requests).await })
            }),
        );
        Self {
            claims,
            completions,
            dead_after,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// From now on, workers finish the step in hand and continue no run inline, so a
    /// shutdown is not held up by a long chain of steps.
    pub fn stop_continuing(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn continuing(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst)
    }
}
