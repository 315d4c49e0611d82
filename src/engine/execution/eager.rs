//! Eager hand-off: a command (start a run, decide an approval, post an event) whose
//! transaction makes a task step due now hands that step to a worker of this process in
//! the same transaction, and the worker runs it as soon as the transaction commits.
//!
//! Through the queue, that step would wait for the commit's NOTIFY to wake a fetcher, for
//! the fetch's own commit and for the claim's: three round trips of the process and two
//! commits more before the handler is called. Handed off, the attempt's start is written
//! with the command's change, the way a completion continues a run inline
//! ([`Transition::continue_inline`]).
//!
//! Recovery is the queue's: the command also inserts the step's job, already `Running`
//! and locked by the process's eager worker (an apalis worker row this module keeps
//! alive). While the process lives, no fetcher takes the job; when the run stops needing
//! the worker, the job is marked `Done` (or, if the database failed the worker, put back
//! in the queue for anyone; so is the job of a command whose commit had an unknown
//! outcome). If the process dies, apalis hands the job to another
//! worker after three missed heartbeats and the claim there abandons the attempt and
//! runs it again, as for any worker that died mid-step.
//!
//! Hand-offs are bounded by the worker's slots; without a free slot, or in a process
//! running no workers, or once shutdown began, the command enqueues the job as usual.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::engine::execution::attempt::Attempt;
use crate::engine::execution::changes::ChangeSet;
use crate::engine::execution::executor::{StepWriters, keep_trying};
use crate::engine::execution::transition::Transition;
use crate::engine::{Engine, EngineError};
use crate::store;
use crate::store::jobs::{HeldJob, StepJob};
use crate::store::runs::RunRow;

/// Where a command's changes go.
pub(in crate::engine) enum Writer {
    /// A transaction, which may also hold the command's reads and locks; committed after.
    Transaction(Transaction<'static, Postgres>),
    /// A connection outside any transaction, for a start: its changes are one statement
    /// (src/store/starts.rs), which commits by itself.
    Statement(PoolConnection<Postgres>),
}

impl Writer {
    /// Writes `changes` and commits them.
    async fn commit(self, changes: &ChangeSet) -> Result<(), EngineError> {
        match self {
            Writer::Transaction(mut tx) => {
                changes.write(&mut tx).await?;
                tx.commit().await?;
            }
            Writer::Statement(mut conn) => {
                assert!(
                    changes.started.is_some(),
                    "only a start's changes are one statement"
                );
                changes.write(&mut conn).await?;
            }
        }
        Ok(())
    }
}

/// The worker of this process that runs handed-off steps. Cheap to clone.
#[derive(Clone)]
pub struct EagerWorker {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    writers: StepWriters,
    slots: Arc<Semaphore>,
    limit: u32,
    heartbeat: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Where an engine hands steps off, if anywhere; shared by the engine's clones.
#[derive(Clone, Default)]
pub struct EagerSlot {
    worker: Arc<RwLock<Option<EagerWorker>>>,
}

impl EagerWorker {
    /// Registers worker `name` on the step queue, keeps it alive every `heartbeat`, and
    /// runs at most `limit` handed-off steps (with the runs they continue inline) at once.
    pub async fn start(
        engine: &Engine,
        name: String,
        writers: StepWriters,
        limit: usize,
        heartbeat: Duration,
    ) -> Result<Self, EngineError> {
        store::jobs::heartbeat(&mut *engine.pool().acquire().await?, &name).await?;
        let pool = engine.pool().clone();
        let beating = name.clone();
        let heartbeat = tokio::spawn(async move {
            let mut every = tokio::time::interval(heartbeat);
            loop {
                every.tick().await;
                let beat =
                    async { store::jobs::heartbeat(&mut *pool.acquire().await?, &beating).await };
                if let Err(error) = beat.await {
                    tracing::warn!(worker.name = %beating, error = %error, "eager worker heartbeat failed");
                }
            }
        });
        let limit = u32::try_from(limit.max(1)).unwrap_or(u32::MAX);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                writers,
                slots: Arc::new(Semaphore::new(limit as usize)),
                limit,
                heartbeat,
            }),
        })
    }

    /// The worker's name, as recorded on its attempts and held jobs.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Waits until every handed-off step has ended, or `deadline`; answers whether all did.
    pub async fn drained(&self, deadline: tokio::time::Instant) -> bool {
        let all = self
            .inner
            .slots
            .clone()
            .acquire_many_owned(self.inner.limit);
        tokio::time::timeout_at(deadline, all).await.is_ok()
    }
}

impl EagerSlot {
    fn set(&self, worker: Option<EagerWorker>) {
        *self.worker.write().expect("eager slot lock") = worker;
    }

    /// The worker with one of its slots taken, if there is a worker and a free slot.
    fn take(&self) -> Option<(EagerWorker, OwnedSemaphorePermit)> {
        let worker = self.worker.read().expect("eager slot lock").clone()?;
        let permit = worker.inner.slots.clone().try_acquire_owned().ok()?;
        Some((worker, permit))
    }
}

impl Engine {
    /// Hands steps made due by commands to `worker` from now on, or (with `None`) to
    /// the queue again.
    pub fn hand_off_to(&self, worker: Option<EagerWorker>) {
        self.eager.set(worker);
    }

    /// Writes `transition` through `writer`; when the run now waits at a task step due
    /// now and this process has a free eager slot, that step's attempt is started in the
    /// same write and run here right after it commits.
    pub(in crate::engine) async fn commit_handing_off(
        &self,
        writer: Writer,
        mut transition: Transition<'_>,
    ) -> Result<RunRow, EngineError> {
        let definition = transition.definition;
        let handed = self.eager.take().and_then(|(worker, permit)| {
            let (job, started) = transition.take_inline(worker.name())?;
            Some((worker, permit, HeldJob::new(job, started)))
        });
        let mut changes = ChangeSet::default();
        let run = transition.into_changes(&mut changes);
        let Some((worker, permit, held)) = handed else {
            writer.commit(&changes).await?;
            return Ok(run);
        };
        let attempt = Attempt::of_task(
            definition,
            &held.job.step_id,
            run.id,
            run.current_seq,
            1,
            run.context.clone(),
        )?;
        changes.held = Some(held.clone());
        if let Err(error) = writer.commit(&changes).await {
            // Whether it committed may be unknown (say, the connection dropped after the
            // commit was sent). If it did, its job must not stay held by a worker that
            // will never run the step: hand it to the queue (a no-op if nothing committed).
            let engine = self.clone();
            tokio::spawn(async move {
                engine.end_held(&worker, &held.id, Some(&held.job)).await;
            });
            return Err(error);
        }
        let engine = self.clone();
        let span =
            tracing::info_span!("step", run.id = %held.job.run_id, step.id = %held.job.step_id);
        tokio::spawn(
            async move {
                engine.carry(&worker, held.job, held.id, attempt).await;
                drop(permit);
            }
            .instrument(span),
        );
        Ok(run)
    }

    /// Runs a handed-off attempt (and the steps it continues inline), then ends its job.
    async fn carry(&self, worker: &EagerWorker, job: StepJob, held: String, attempt: Attempt) {
        let mut current = job;
        let result = self
            .run_attempt(&worker.inner.writers, worker.name(), &mut current, attempt)
            .await;
        if let Err(error) = &result {
            tracing::warn!(error = %error, "handed-off step failed; its job goes back to the queue");
            self.abandon_cut_short(&current, worker.name()).await;
        }
        let requeue_as = result.as_ref().err().map(|_| &current);
        self.end_held(worker, &held, requeue_as).await;
    }

    /// Ends held job `held`: `Done`, or back in the queue as `requeue_as`; retried until
    /// the database takes it.
    async fn end_held(&self, worker: &EagerWorker, held: &str, requeue_as: Option<&StepJob>) {
        keep_trying("end a held step job", || async {
            let mut conn = self.pool.acquire().await?;
            store::jobs::finish_held(&mut conn, held, worker.name(), requeue_as).await?;
            Ok(())
        })
        .await;
    }
}
