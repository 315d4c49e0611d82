//! Attempts of task steps (`step_attempts`): claiming due steps, recording how attempts
//! ended, and reading them back. The claim and the finish take many attempts at once so
//! the engine's group commit writes a whole batch with one statement each.

use super::ids::RunId;
use super::status::AttemptStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One attempt of a task step.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    /// Visit number.
    pub seq: i32,
    /// 1-based attempt.
    pub attempt: i32,
    /// Worker that ran it.
    pub worker: String,
    /// How it ended, or that it has not.
    pub status: AttemptStatus,
    /// Outcome.
    pub outcome: Option<String>,
    /// Error text.
    pub error: Option<String>,
    /// Whether the error was retryable.
    pub retryable: Option<bool>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Records the start of an attempt.
pub async fn start(
    conn: &mut PgConnection,
    run_id: RunId,
    seq: i32,
    attempt: i32,
    worker: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into step_attempts (run_id, seq, attempt, worker, status)
         values ($1, $2, $3, $4, 'running')",
        run_id.uuid(),
        seq,
        attempt,
        worker
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An attempt started by the transaction that entered its step (a run continued inline).
#[derive(Debug, Clone)]
pub struct StartedAttempt {
    /// Run.
    pub run_id: RunId,
    /// Visit number.
    pub seq: i32,
    /// 1-based attempt.
    pub attempt: i32,
    /// Worker that runs it.
    pub worker: String,
}

/// Records the start of many attempts, in one statement.
pub async fn start_many(conn: &mut PgConnection, started: &[StartedAttempt]) -> sqlx::Result<()> {
    if started.is_empty() {
        return Ok(());
    }
    let run_ids: Vec<Uuid> = started.iter().map(|a| a.run_id.uuid()).collect();
    let seqs: Vec<i32> = started.iter().map(|a| a.seq).collect();
    let attempts: Vec<i32> = started.iter().map(|a| a.attempt).collect();
    let workers: Vec<String> = started.iter().map(|a| a.worker.clone()).collect();
    sqlx::query!(
        "insert into step_attempts (run_id, seq, attempt, worker, status)
         select run_id, seq, attempt, worker, 'running'
         from unnest($1::uuid[], $2::int4[], $3::int4[], $4::text[])
              as started(run_id, seq, attempt, worker)",
        &run_ids,
        &seqs,
        &attempts,
        &workers
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether visit `seq` of a run is a running task step that nothing is running: no
/// attempt of it is `running` on a worker that heartbeat within `dead_after_secs`. That
/// is the case when its worker died (silent, or gone from apalis's worker table) or when
/// a live process cut the attempt short and said so ([`abandon_cut_short`]).
pub async fn orphaned(
    conn: &mut PgConnection,
    run_id: RunId,
    seq: i32,
    dead_after_secs: f64,
) -> sqlx::Result<bool> {
    let orphaned = sqlx::query_scalar!(
        r#"select exists (
               select 1 from run_steps s
               where s.run_id = $1 and s.seq = $2 and s.kind = 'task' and s.status = 'running'
                 and not exists (
                     select 1 from step_attempts a
                     join apalis.workers w on w.id = a.worker
                     where a.run_id = s.run_id and a.seq = s.seq and a.status = 'running'
                       and w.last_seen >= now() - make_interval(secs => $3))
           ) as "orphaned!""#,
        run_id.uuid(),
        seq,
        dead_after_secs
    )
    .fetch_one(conn)
    .await?;
    Ok(orphaned)
}

/// A step job to claim: the run should be at `step_id` with `generation`.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Run.
    pub run_id: RunId,
    /// Step the job is for.
    pub step_id: String,
    /// Generation the job was enqueued with.
    pub generation: i64,
    /// Worker that will run the attempt.
    pub worker: String,
}

/// A task attempt claimed by [`claim_due_tasks`].
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    /// Run.
    pub run_id: RunId,
    /// Workflow of the run.
    pub workflow: String,
    /// Definition version the run is pinned to.
    pub workflow_version: i32,
    /// Visit number of the step.
    pub seq: i32,
    /// The attempt just started (1-based).
    pub attempt: i32,
    /// The run context the handler sees.
    pub context: Value,
}

/// The common case of step jobs, many in one statement: the run is at the job's step and
/// generation, and that task step waits for its next attempt and is due. Locks those runs
/// (in id order), marks their steps running and records the attempt starts, atomically.
///
/// Answers the claimed ones; a job left out means anything else (stale, early, a timer or
/// a deadline, a redelivery after a crash) and takes the general path. The requests must
/// name distinct runs.
pub async fn claim_due_tasks<R: AsRef<ClaimRequest>>(
    conn: &mut PgConnection,
    requests: &[R],
) -> sqlx::Result<Vec<ClaimedTask>> {
    let requests = || requests.iter().map(AsRef::as_ref);
    let run_ids: Vec<Uuid> = requests().map(|r| r.run_id.uuid()).collect();
    let step_ids: Vec<String> = requests().map(|r| r.step_id.clone()).collect();
    let generations: Vec<i64> = requests().map(|r| r.generation).collect();
    let workers: Vec<String> = requests().map(|r| r.worker.clone()).collect();
    sqlx::query_as!(
        ClaimedTask,
        r#"with job as (
               select * from unnest($1::uuid[], $2::text[], $3::int8[], $4::text[])
                   as job(run_id, step_id, generation, worker)
           ),
           -- The run's status is checked below, not here: `status = 'running'` would let
           -- the planner walk runs_status_idx in id order (no sort for the lock order),
           -- which it prices by statistics taken when few runs were running, and a
           -- backlog of running runs then costs a scan of all of them per claim.
           run as (
               select r.id, r.workflow, r.workflow_version, r.current_seq, r.context,
                      r.status, job.worker
               from runs r
               join job on job.run_id = r.id and job.step_id = r.current_step
                       and job.generation = r.generation
               where r.id = any($1)
               order by r.id
               for update of r
           ),
           -- Each step is found from its run by primary key, and carries what the rest
           -- needs of the run: the planner takes a CTE for one row, and a join between two
           -- CTEs of a whole batch becomes a nested loop comparing every pair.
           step as (
               update run_steps s
               set status = 'running', attempts = s.attempts + 1, wake_at = null,
                   started_at = coalesce(s.started_at, now())
               from run
               where s.run_id = run.id and s.seq = run.current_seq
                 and run.status = 'running' and s.kind = 'task'
                 and s.status in ('pending', 'retrying')
                 and (s.wake_at is null or s.wake_at <= now())
               returning s.run_id, s.seq, s.attempts, run.worker, run.workflow,
                         run.workflow_version, run.context
           ),
           started as (
               insert into step_attempts (run_id, seq, attempt, worker, status)
               select run_id, seq, attempts, worker, 'running' from step
           )
           select run_id as "run_id!", workflow as "workflow!",
                  workflow_version as "workflow_version!", seq as "seq!",
                  attempts as "attempt!", context as "context!"
           from step"#,
        &run_ids,
        &step_ids,
        &generations,
        &workers
    )
    .fetch_all(conn)
    .await
}

/// Marks the attempt of run `run_id` that `worker` was running as abandoned: the live
/// process cut it short (the database refused its end), so whichever worker picks the
/// step up next may take it over without waiting for this one to fall silent.
pub async fn abandon_cut_short(
    conn: &mut PgConnection,
    run_id: RunId,
    worker: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update step_attempts
         set status = 'abandoned', finished_at = now(),
             error = 'the database refused to record the end of this attempt'
         where run_id = $1 and worker = $2 and status = 'running'",
        run_id.uuid(),
        worker
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks attempts that were started but never finished (their worker died) as abandoned.
pub async fn abandon_running(conn: &mut PgConnection, run_id: RunId, seq: i32) -> sqlx::Result<()> {
    sqlx::query!(
        "update step_attempts
         set status = 'abandoned', finished_at = now(),
             error = 'the worker running this attempt stopped before finishing it'
         where run_id = $1 and seq = $2 and status = 'running'",
        run_id.uuid(),
        seq
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    /// Run.
    pub run_id: RunId,
    /// Visit number.
    pub seq: i32,
    /// 1-based attempt.
    pub attempt: i32,
    /// Succeeded or failed.
    pub status: AttemptStatus,
    /// Outcome of a success.
    pub outcome: Option<String>,
    /// Output of a success.
    pub output: Option<Value>,
    /// Error of a failure.
    pub error: Option<String>,
    /// Whether the failure was retryable.
    pub retryable: Option<bool>,
}

/// Records how attempts ended, in one statement.
pub async fn finish_many(conn: &mut PgConnection, ended: &[FinishedAttempt]) -> sqlx::Result<()> {
    if ended.is_empty() {
        return Ok(());
    }
    let run_ids: Vec<Uuid> = ended.iter().map(|a| a.run_id.uuid()).collect();
    let seqs: Vec<i32> = ended.iter().map(|a| a.seq).collect();
    let attempts: Vec<i32> = ended.iter().map(|a| a.attempt).collect();
    let statuses: Vec<String> = ended.iter().map(|a| a.status.to_string()).collect();
    let outcomes: Vec<Option<String>> = ended.iter().map(|a| a.outcome.clone()).collect();
    let outputs: Vec<Option<Value>> = ended.iter().map(|a| a.output.clone()).collect();
    let errors: Vec<Option<String>> = ended.iter().map(|a| a.error.clone()).collect();
    let retryables: Vec<Option<bool>> = ended.iter().map(|a| a.retryable).collect();
    sqlx::query!(
        "update step_attempts a
         set status = u.status, outcome = u.outcome, output = u.output, error = u.error,
             retryable = u.retryable, finished_at = now()
         from unnest($1::uuid[], $2::int4[], $3::int4[], $4::text[], $5::text[], $6::jsonb[],
                     $7::text[], $8::bool[])
              as u(run_id, seq, attempt, status, outcome, output, error, retryable)
         where a.run_id = any($1) and a.run_id = u.run_id and a.seq = u.seq
           and a.attempt = u.attempt",
        &run_ids,
        &seqs,
        &attempts,
        &statuses,
        &outcomes as &[Option<String>],
        &outputs as &[Option<Value>],
        &errors as &[Option<String>],
        &retryables as &[Option<bool>]
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every attempt of a run, in order.
pub async fn list(conn: &mut PgConnection, run_id: RunId) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as!(
        AttemptRow,
        "select seq, attempt, worker, status, outcome, error, retryable, started_at, finished_at
         from step_attempts where run_id = $1 order by seq, attempt",
        run_id.uuid()
    )
    .fetch_all(conn)
    .await
}
