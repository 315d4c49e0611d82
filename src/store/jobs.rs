//! Enqueueing step jobs on the apalis queue, inside the caller's transaction.

use super::ids::RunId;
use std::time::{SystemTime, UNIX_EPOCH};

use apalis::prelude::TaskBuilder;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::attempts::StartedAttempt;

/// The one queue every step job travels on. Named explicitly: apalis would otherwise
/// derive it from a Rust type path, and a rename would orphan queued jobs.
pub const STEP_QUEUE: &str = "bazaarstreet.steps";

/// Jobs apalis may re-run on its own after a worker error; the engine does its own
/// retries with backoff, so these only cover infrastructure faults (database gone).
pub(super) const APALIS_MAX_ATTEMPTS: usize = 25;

/// What a step job carries. A job whose generation no longer matches the run's does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    /// The run.
    pub run_id: RunId,
    /// The step the job is for.
    pub step_id: String,
    /// The run's generation when the job was enqueued.
    pub generation: i64,
}

impl StepJob {
    /// The job as apalis stores it (JSON bytes).
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a StepJob always serialises")
    }
}

/// A job to push, optionally not before an instant.
#[derive(Debug, Clone)]
pub struct PendingJob {
    /// The payload.
    pub job: StepJob,
    /// Earliest time to run; `None` for now.
    pub not_before: Option<DateTime<Utc>>,
}

/// Pushes jobs in the caller's transaction, so they exist only if the state change commits.
pub async fn push(
    conn: &mut PgConnection,
    jobs: &[PendingJob],
) -> Result<(), apalis_postgres::Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let tasks = jobs
        .iter()
        .map(|pending| {
            let mut builder =
                TaskBuilder::new(pending.job.payload()).max_attempts(APALIS_MAX_ATTEMPTS);
            if let Some(at) = pending.not_before {
                builder = builder.run_at_timestamp(whole_seconds_not_before(at));
            }
            builder.build()
        })
        .collect();
    apalis_postgres::queries::push_tasks(conn, STEP_QUEUE, tasks).await
}

/// apalis stores `run_at` in whole seconds; rounding up means a job never fires early.
pub(super) fn whole_seconds_not_before(at: DateTime<Utc>) -> u64 {
    let micros = at.timestamp_micros().max(0) as u64;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    micros.div_ceil(1_000_000).max(now)
}

/// A step job inserted already `Running` and locked by a worker of this process (its
/// eager worker), with the start of the attempt that worker runs: no fetcher takes it. If
/// the worker dies, apalis puts the job back in the queue (its heartbeat check) and another
/// worker takes the run over. Its `run_at` lies a second ahead so the insert wakes no
/// fetcher for nothing; the job is never fetched before the worker is long dead anyway.
#[derive(Debug, Clone)]
pub struct HeldJob {
    /// The apalis job id.
    pub id: String,
    /// The payload.
    pub job: StepJob,
    /// The attempt the worker runs, started with the job.
    pub attempt: StartedAttempt,
}

impl HeldJob {
    /// A held job with a fresh id.
    pub fn new(job: StepJob, attempt: StartedAttempt) -> Self {
        Self {
            id: ulid::Ulid::new().to_string(),
            job,
            attempt,
        }
    }
}

/// Writes `held`: its attempt's start and its job, in one statement. (A start writes its
/// held job in its own statement, src/store/starts.rs.)
pub async fn push_held(conn: &mut PgConnection, held: &HeldJob) -> sqlx::Result<()> {
    sqlx::query!(
        "with started as (
             insert into step_attempts (run_id, seq, attempt, worker, status)
             values ($6, $7, $8, $5, 'running')
         )
         insert into apalis.jobs (job, id, job_type, status, attempts, max_attempts, run_at,
                                  lock_at, lock_by)
         values ($1, $2, $3, 'Running', 1, $4, now() + interval '1 second', now(), $5)",
        held.job.payload(),
        held.id,
        STEP_QUEUE,
        APALIS_MAX_ATTEMPTS as i32,
        held.attempt.worker,
        held.attempt.run_id.uuid(),
        held.attempt.seq,
        held.attempt.attempt
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a job held by `worker` since [`push_held`]: `Done` when the worker carried its
/// run as far as it could, or, when the database failed the worker, back in the queue as
/// `requeue_as` (the step the run was at by then), for any worker to claim.
pub async fn finish_held(
    conn: &mut PgConnection,
    id: &str,
    worker: &str,
    requeue_as: Option<&StepJob>,
) -> sqlx::Result<()> {
    match requeue_as {
        None => {
            sqlx::query!(
                r#"update apalis.jobs
                   set status = 'Done', done_at = now(), last_result = '{"Ok": null}'
                   where id = $1 and lock_by = $2 and status = 'Running'"#,
                id,
                worker
            )
            .execute(conn)
            .await?;
        }
        Some(job) => {
            sqlx::query!(
                r#"update apalis.jobs
                   set status = 'Pending', job = $3, run_at = now(), lock_by = null,
                       lock_at = null, last_result = '{"Err": "handed back to the queue"}'
                   where id = $1 and lock_by = $2 and status = 'Running'"#,
                id,
                worker,
                job.payload()
            )
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Says that `worker`, registered by apalis, is still alive. Never registers one: apalis
/// refuses to start a worker under a name that another seems to hold.
pub async fn keep_alive(conn: &mut PgConnection, worker: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update apalis.workers set last_seen = now() where id = $1",
        worker
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Registers `worker` as alive on the step queue, or says it still is: apalis hands the
/// jobs of a worker silent for a few heartbeats to others.
pub async fn heartbeat(conn: &mut PgConnection, worker: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into apalis.workers (id, worker_type, storage_name, layers, last_seen, started_at)
         values ($1, $2, 'bazaarstreet', 'eager', now(), now())
         on conflict (id) do update set last_seen = now()",
        worker,
        STEP_QUEUE
    )
    .execute(conn)
    .await?;
    Ok(())
}
