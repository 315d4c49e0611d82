//! Moving a locked run from one step to the next inside one transaction.
//!
//! A [`Transition`] holds the run row (locked `for update` by the caller), applies
//! state changes to it, and collects the step visits, history entries and jobs those
//! changes imply; [`Transition::commit_changes`] writes them in the caller's transaction
//! (or [`Transition::into_changes`] adds them to a batch's [`ChangeSet`]), so a state
//! change, its history and the next job exist together or not at all.

use crate::engine::{RunStatus, StepStatus};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::engine::EngineError;
use crate::engine::definitions::definition::{Definition, StepKind, Target, TimerSpec, outcome};
use crate::engine::execution::changes::ChangeSet;
use crate::engine::handlers::context::{correlation_text, lookup};
use crate::store;
use crate::store::attempts::StartedAttempt;
use crate::store::history::NewHistory;
use crate::store::jobs::{PendingJob, StepJob};
use crate::store::runs::RunRow;
use crate::store::steps::StepRow;

/// Changes to one run in progress.
pub struct Transition<'a> {
    /// The definition the run is pinned to.
    pub definition: &'a Definition,
    /// The run, locked by the caller.
    pub run: RunRow,
    /// Who caused the change (None for the engine itself).
    pub actor: Option<String>,
    history: Vec<NewHistory>,
    jobs: Vec<PendingJob>,
    new_steps: Vec<StepRow>,
    started_attempts: Vec<StartedAttempt>,
    now: DateTime<Utc>,
    /// The run is being started: its row is inserted, not updated.
    starting: bool,
}

impl<'a> Transition<'a> {
    /// Starts collecting changes to `run`.
    pub fn new(definition: &'a Definition, run: RunRow, actor: Option<String>) -> Self {
        Self {
            definition,
            run,
            actor,
            history: Vec::new(),
            jobs: Vec::new(),
            new_steps: Vec::new(),
            started_attempts: Vec::new(),
            now: Utc::now(),
            starting: false,
        }
    }

    /// Starts collecting the changes that start `run`, a row not yet written: it is
    /// inserted as they leave it, with their history, before the rest of the changes.
    pub fn starting(definition: &'a Definition, run: RunRow, actor: Option<String>) -> Self {
        Self {
            starting: true,
            ..Self::new(definition, run, actor)
        }
    }

    /// The time this transition treats as now.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Records a history entry about the run or one of its steps.
    pub fn record(&mut self, kind: &'static str, step_id: Option<&str>, data: Value) {
        self.history.push(NewHistory {
            kind,
            step_id: step_id.map(str::to_owned),
            actor: self.actor.clone(),
            data,
        });
    }

    /// Enqueues a job for the current step and generation.
    pub fn enqueue_current(&mut self, not_before: Option<DateTime<Utc>>) {
        if let Some(step_id) = &self.run.current_step {
            self.jobs.push(PendingJob {
                job: StepJob {
                    run_id: self.run.id,
                    step_id: step_id.clone(),
                    generation: self.run.generation,
                },
                not_before,
            });
        }
    }

    /// Makes every queued job of this run stale.
    pub fn bump_generation(&mut self) {
        self.run.generation += 1;
    }

    /// Stores a finished step's output in the context as `steps.<id>`.
    pub fn set_step_output(&mut self, step_id: &str, output: &Value) {
        if let Some(steps) = self
            .run
            .context
            .get_mut("steps")
            .and_then(Value::as_object_mut)
        {
            steps.insert(step_id.to_owned(), output.clone());
        }
    }

    /// Follows `target` from the current step, entering steps until one parks the run or
    /// the run finishes. `failure` is the error to record if the target is `fail`.
    pub async fn follow(
        &mut self,
        conn: &mut PgConnection,
        mut target: Target,
        failure: Option<String>,
    ) -> Result<(), EngineError> {
        let mut failure = failure;
        loop {
            match target {
                Target::Succeed => {
                    self.finish(RunStatus::Succeeded, None);
                    return Ok(());
                }
                Target::Fail => {
                    let error = failure
                        .take()
                        .unwrap_or_else(|| "the workflow ended in `fail`".to_owned());
                    self.finish(RunStatus::Failed, Some(error));
                    return Ok(());
                }
                Target::Step(index) => match self.enter(conn, index).await? {
                    Entered::Parked => return Ok(()),
                    Entered::Done { next, error } => {
                        target = next;
                        failure = error;
                    }
                },
            }
        }
    }

    /// Ends the run with a final status.
    pub fn finish(&mut self, status: RunStatus, error: Option<String>) {
        self.bump_generation();
        self.run.status = status;
        self.run.current_step = None;
        self.run.error = error.clone();
        self.run.finished_at = Some(self.now);
        let kind = match status {
            RunStatus::Succeeded => "run_succeeded",
            RunStatus::Failed => "run_failed",
            RunStatus::Cancelled => "run_cancelled",
            RunStatus::Running | RunStatus::Waiting => {
                unreachable!("a run finishes as succeeded, failed or cancelled")
            }
        };
        self.record(kind, None, json!({ "error": error }));
    }

    /// Enters the step at `index`.
    async fn enter(
        &mut self,
        conn: &mut PgConnection,
        index: usize,
    ) -> Result<Entered, EngineError> {
        let definition = self.definition;
        let step = &definition.steps[index];
        self.bump_generation();
        self.run.current_step = Some(step.id.clone());
        self.run.current_seq += 1;
        let mut row = StepRow {
            run_id: self.run.id,
            seq: self.run.current_seq,
            step_id: step.id.clone(),
            kind: step.kind_name().to_owned(),
            status: StepStatus::Pending,
            attempts: 0,
            outcome: None,
            output: None,
            error: None,
            wake_at: None,
            created_at: self.now,
            started_at: None,
            finished_at: None,
        };
        self.record(
            "step_entered",
            Some(&step.id),
            json!({ "kind": step.kind_name() }),
        );
        let entered = match &step.kind {
            StepKind::Task(_) => {
                self.run.status = RunStatus::Running;
                self.enqueue_current(None);
                Entered::Parked
            }
            StepKind::Approval(spec) => {
                self.park(&mut row, spec.expires_after);
                Entered::Parked
            }
            StepKind::WaitEvent(spec) => {
                let correlation = match &spec.correlation {
                    None => None,
                    Some(path) => Some(
                        lookup(&self.run.context, path)
                            .map(correlation_text)
                            .unwrap_or_default(),
                    ),
                };
                let buffered = store::events::consume_matching(
                    conn,
                    self.run.id,
                    &spec.event,
                    correlation.as_deref(),
                    row.seq,
                )
                .await?;
                match buffered {
                    Some(event) => {
                        self.complete_row(&mut row, outcome::RECEIVED, &event.payload);
                        Entered::Done {
                            next: step.target_for(outcome::RECEIVED),
                            error: None,
                        }
                    }
                    None => match &spec.until {
                        None => {
                            self.park(&mut row, spec.timeout);
                            Entered::Parked
                        }
                        Some(path) => match self.timer_instant(&TimerSpec::Until(path.clone())) {
                            Ok(wake_at) => {
                                self.run.status = RunStatus::Waiting;
                                row.status = StepStatus::Waiting;
                                row.wake_at = Some(wake_at);
                                self.enqueue_current(Some(wake_at));
                                Entered::Parked
                            }
                            Err(error) => self.fail_entered(&mut row, &step.id, error),
                        },
                    },
                }
            }
            StepKind::Timer(spec) => match self.timer_instant(spec) {
                Ok(wake_at) => {
                    self.run.status = RunStatus::Waiting;
                    row.status = StepStatus::Waiting;
                    row.wake_at = Some(wake_at);
                    self.enqueue_current(Some(wake_at));
                    Entered::Parked
                }
                Err(error) => self.fail_entered(&mut row, &step.id, error),
            },
        };
        self.new_steps.push(row);
        Ok(entered)
    }

    /// Parks the run on the current step, with an optional deadline job.
    fn park(&mut self, row: &mut StepRow, deadline: Option<std::time::Duration>) {
        self.run.status = RunStatus::Waiting;
        row.status = StepStatus::Waiting;
        if let Some(after) = deadline {
            let wake_at =
                self.now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
            row.wake_at = Some(wake_at);
            self.enqueue_current(Some(wake_at));
        }
    }

    /// When this transition parked the run at a task step that is due now, starts that
    /// step's first attempt for `worker` instead of enqueueing its job, and answers the job
    /// the worker continues with. The attempt start is written with the step it belongs to.
    pub fn continue_inline(&mut self, worker: &str) -> Option<StepJob> {
        let (job, started) = self.take_inline(worker)?;
        self.started_attempts.push(started);
        Some(job)
    }

    /// Like [`Transition::continue_inline`], but answers the attempt start for the caller
    /// to write (with the job it holds) instead of writing it with the other changes.
    pub fn take_inline(&mut self, worker: &str) -> Option<(StepJob, StartedAttempt)> {
        let step_id = self.run.current_step.clone()?;
        let due_now = self.jobs.last().is_some_and(|pending| {
            pending.not_before.is_none()
                && pending.job.step_id == step_id
                && pending.job.generation == self.run.generation
        });
        let row = self.new_steps.last_mut()?;
        let is_task = matches!(
            self.definition.step(&step_id).map(|step| &step.kind),
            Some(StepKind::Task(_))
        );
        if self.run.status != RunStatus::Running
            || !is_task
            || !due_now
            || row.seq != self.run.current_seq
            || row.status != StepStatus::Pending
        {
            return None;
        }
        row.status = StepStatus::Running;
        row.attempts = 1;
        row.started_at = Some(self.now);
        let started = StartedAttempt {
            run_id: self.run.id,
            seq: row.seq,
            attempt: 1,
            worker: worker.to_owned(),
        };
        self.jobs.pop().map(|pending| (pending.job, started))
    }

    /// Marks a step row succeeded with an outcome and output, and stores the output.
    pub fn complete_row(&mut self, row: &mut StepRow, outcome: &str, output: &Value) {
        row.status = StepStatus::Succeeded;
        row.outcome = Some(outcome.to_owned());
        row.output = Some(output.clone());
        row.wake_at = None;
        row.started_at.get_or_insert(self.now);
        row.finished_at = Some(self.now);
        self.set_step_output(&row.step_id, output);
        let step_id = row.step_id.clone();
        self.record(
            "step_succeeded",
            Some(&step_id),
            json!({ "outcome": outcome }),
        );
    }

    /// Fails a step as it is entered (its instant could not be read).
    fn fail_entered(&mut self, row: &mut StepRow, step_id: &str, error: String) -> Entered {
        row.status = StepStatus::Failed;
        row.error = Some(error.clone());
        row.finished_at = Some(self.now);
        self.record("step_failed", Some(step_id), json!({ "error": error }));
        Entered::Done {
            next: Target::Fail,
            error: Some(format!("step `{step_id}` failed: {error}")),
        }
    }

    fn timer_instant(&self, spec: &TimerSpec) -> Result<DateTime<Utc>, String> {
        match spec {
            TimerSpec::Delay(delay) => {
                Ok(self.now + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX))
            }
            TimerSpec::Until(path) => {
                let value = lookup(&self.run.context, path)
                    .ok_or_else(|| format!("`until` path `{path}` is not in the run context"))?;
                let text = value.as_str().ok_or_else(|| {
                    format!("`until` path `{path}` holds {value}, not an RFC 3339 instant")
                })?;
                DateTime::parse_from_rfc3339(text)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|error| format!("`until` path `{path}` holds `{text}`: {error}"))
            }
        }
    }

    /// Writes the run row, the step visits entered, its history, its jobs and one
    /// audit-ledger entry per history entry in the caller's transaction.
    pub async fn commit_changes(self, conn: &mut PgConnection) -> Result<RunRow, EngineError> {
        let mut changes = ChangeSet::default();
        let run = self.into_changes(&mut changes);
        changes.write(conn).await?;
        Ok(run)
    }

    /// Adds what this transition writes to a batch's changes; answers the run as changed.
    pub fn into_changes(self, changes: &mut ChangeSet) -> RunRow {
        changes.new_steps.extend(self.new_steps);
        changes.started_attempts.extend(self.started_attempts);
        changes.jobs.extend(self.jobs);
        if self.starting {
            changes.started = Some((self.run.clone(), self.history));
        } else {
            changes.runs.push((self.run.clone(), self.history));
        }
        self.run
    }
}

/// What entering a step did.
enum Entered {
    /// The run waits here (a task job, an approval, an event or a timer).
    Parked,
    /// The step completed at once; continue with `next`.
    Done { next: Target, error: Option<String> },
}
