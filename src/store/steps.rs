//! Step visits (`run_steps`), their attempts (`step_attempts`) and approval decisions.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One visit of a step.
#[derive(Debug, Clone)]
pub struct StepRow {
    /// Run.
    pub run_id: Uuid,
    /// Visit number within the run.
    pub seq: i32,
    /// Step id.
    pub step_id: String,
    /// Step kind.
    pub kind: String,
    /// pending, running, retrying, waiting, succeeded, failed, cancelled, timed_out.
    pub status: String,
    /// Attempts started (tasks).
    pub attempts: i32,
    /// Outcome that chose the next step.
    pub outcome: Option<String>,
    /// Output.
    pub output: Option<Value>,
    /// Last error.
    pub error: Option<String>,
    /// When a timer, retry or wait deadline falls due.
    pub wake_at: Option<DateTime<Utc>>,
    /// Entered.
    pub created_at: DateTime<Utc>,
    /// First attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt of a task step.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    /// Visit number.
    pub seq: i32,
    /// 1-based attempt.
    pub attempt: i32,
    /// Worker that ran it.
    pub worker: String,
    /// running, succeeded, failed, abandoned.
    pub status: String,
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

/// Records entry into a step.
pub async fn insert(conn: &mut PgConnection, step: &StepRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into run_steps (run_id, seq, step_id, kind, status, attempts, outcome, output,
                                error, wake_at, started_at, finished_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        step.run_id,
        step.seq,
        step.step_id,
        step.kind,
        step.status,
        step.attempts,
        step.outcome,
        step.output,
        step.error,
        step.wake_at,
        step.started_at,
        step.finished_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back a step visit's mutable fields.
pub async fn save(conn: &mut PgConnection, step: &StepRow) -> sqlx::Result<()> {
    sqlx::query!(
        "update run_steps set status = $3, attempts = $4, outcome = $5, output = $6, error = $7,
                wake_at = $8, started_at = $9, finished_at = $10
         where run_id = $1 and seq = $2",
        step.run_id,
        step.seq,
        step.status,
        step.attempts,
        step.outcome,
        step.output,
        step.error,
        step.wake_at,
        step.started_at,
        step.finished_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One visit.
pub async fn get(conn: &mut PgConnection, run_id: Uuid, seq: i32) -> sqlx::Result<Option<StepRow>> {
    sqlx::query_as!(
        StepRow,
        "select run_id, seq, step_id, kind, status, attempts, outcome, output, error, wake_at,
                created_at, started_at, finished_at
         from run_steps where run_id = $1 and seq = $2",
        run_id,
        seq
    )
    .fetch_optional(conn)
    .await
}

/// Every visit of a run, in order.
pub async fn list(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as!(
        StepRow,
        "select run_id, seq, step_id, kind, status, attempts, outcome, output, error, wake_at,
                created_at, started_at, finished_at
         from run_steps where run_id = $1 order by seq",
        run_id
    )
    .fetch_all(conn)
    .await
}

/// Records the start of an attempt.
pub async fn start_attempt(
    conn: &mut PgConnection,
    run_id: Uuid,
    seq: i32,
    attempt: i32,
    worker: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into step_attempts (run_id, seq, attempt, worker, status)
         values ($1, $2, $3, $4, 'running')",
        run_id,
        seq,
        attempt,
        worker
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A task attempt claimed by [`claim_due_task`].
#[derive(Debug, Clone)]
pub struct ClaimedTask {
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

/// The common case of a step job in one statement: the run is at `step_id` with
/// `generation`, and that task step waits for its next attempt and is due. Locks the run,
/// marks the step running and records the attempt start, atomically.
///
/// Returns `None` when the job means anything else (stale, early, a timer or a deadline,
/// a redelivery after a crash); the caller then takes the general path.
pub async fn claim_due_task(
    conn: &mut PgConnection,
    run_id: Uuid,
    step_id: &str,
    generation: i64,
    worker: &str,
) -> sqlx::Result<Option<ClaimedTask>> {
    sqlx::query_as!(
        ClaimedTask,
        r#"with run as (
               select id, workflow, workflow_version, current_seq, context from runs
               where id = $1 and current_step = $2 and generation = $3 and status = 'running'
               for update
           ),
           step as (
               update run_steps s
               set status = 'running', attempts = s.attempts + 1, wake_at = null,
                   started_at = coalesce(s.started_at, now())
               from run
               where s.run_id = run.id and s.seq = run.current_seq and s.kind = 'task'
                 and s.status in ('pending', 'retrying')
                 and (s.wake_at is null or s.wake_at <= now())
               returning s.seq, s.attempts
           ),
           started as (
               insert into step_attempts (run_id, seq, attempt, worker, status)
               select $1, seq, attempts, $4, 'running' from step
           )
           select run.workflow as "workflow!", run.workflow_version as "workflow_version!",
                  step.seq as "seq!", step.attempts as "attempt!", run.context as "context!"
           from step, run"#,
        run_id,
        step_id,
        generation,
        worker
    )
    .fetch_optional(conn)
    .await
}

/// Marks attempts that were started but never finished (their worker died) as abandoned.
pub async fn abandon_running_attempts(
    conn: &mut PgConnection,
    run_id: Uuid,
    seq: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update step_attempts
         set status = 'abandoned', finished_at = now(),
             error = 'the worker running this attempt stopped before finishing it'
         where run_id = $1 and seq = $2 and status = 'running'",
        run_id,
        seq
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptResult<'a> {
    /// succeeded or failed.
    pub status: &'a str,
    /// Outcome of a success.
    pub outcome: Option<&'a str>,
    /// Output of a success.
    pub output: Option<&'a Value>,
    /// Error of a failure.
    pub error: Option<&'a str>,
    /// Whether the failure was retryable.
    pub retryable: Option<bool>,
}

/// Records how an attempt ended together with the step visit's new state, in one statement.
pub async fn finish_attempt(
    conn: &mut PgConnection,
    step: &StepRow,
    attempt: i32,
    result: &AttemptResult<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "with attempt as (
             update step_attempts
             set status = $4, outcome = $5, output = $6, error = $7, retryable = $8,
                 finished_at = now()
             where run_id = $1 and seq = $2 and attempt = $3
         )
         update run_steps set status = $9, attempts = $10, outcome = $11, output = $12,
                error = $13, wake_at = $14, started_at = $15, finished_at = $16
         where run_id = $1 and seq = $2",
        step.run_id,
        step.seq,
        attempt,
        result.status,
        result.outcome,
        result.output,
        result.error,
        result.retryable,
        step.status,
        step.attempts,
        step.outcome,
        step.output,
        step.error,
        step.wake_at,
        step.started_at,
        step.finished_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records how an attempt ended when its step visit has moved on without it.
pub async fn finish_stray_attempt(
    conn: &mut PgConnection,
    run_id: Uuid,
    seq: i32,
    attempt: i32,
    result: &AttemptResult<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update step_attempts
         set status = $4, outcome = $5, output = $6, error = $7, retryable = $8, finished_at = now()
         where run_id = $1 and seq = $2 and attempt = $3",
        run_id,
        seq,
        attempt,
        result.status,
        result.outcome,
        result.output,
        result.error,
        result.retryable
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every attempt of a run, in order.
pub async fn list_attempts(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as!(
        AttemptRow,
        "select seq, attempt, worker, status, outcome, error, retryable, started_at, finished_at
         from step_attempts where run_id = $1 order by seq, attempt",
        run_id
    )
    .fetch_all(conn)
    .await
}

/// Records a decision; returns false when this actor already decided this visit.
pub async fn insert_decision(
    conn: &mut PgConnection,
    run_id: Uuid,
    seq: i32,
    actor: &str,
    role: &str,
    decision: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into step_decisions (run_id, seq, actor, role, decision, reason)
         values ($1, $2, $3, $4, $5, $6)
         on conflict do nothing",
        run_id,
        seq,
        actor,
        role,
        decision,
        reason
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Every step visit of a run that `actor` has decided: `(seq, step_id)`.
pub async fn decided_by(
    conn: &mut PgConnection,
    run_id: Uuid,
    actor: &str,
) -> sqlx::Result<Vec<(i32, String)>> {
    let rows = sqlx::query!(
        "select d.seq, s.step_id from step_decisions d
         join run_steps s on s.run_id = d.run_id and s.seq = d.seq
         where d.run_id = $1 and d.actor = $2",
        run_id,
        actor
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| (row.seq, row.step_id)).collect())
}

/// Approvals recorded on a visit.
pub async fn count_approvals(conn: &mut PgConnection, run_id: Uuid, seq: i32) -> sqlx::Result<i64> {
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from step_decisions
           where run_id = $1 and seq = $2 and decision = 'approve'"#,
        run_id,
        seq
    )
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// An approval step visit waiting for decisions.
#[derive(Debug, Clone)]
pub struct WaitingApproval {
    /// Run.
    pub run_id: Uuid,
    /// Workflow of the run.
    pub workflow: String,
    /// Pinned version.
    pub workflow_version: i32,
    /// Who started the run.
    pub initiator: String,
    /// Workspace of the run.
    pub workspace_id: Option<String>,
    /// Step id.
    pub step_id: String,
    /// Visit number.
    pub seq: i32,
    /// Waiting since.
    pub created_at: DateTime<Utc>,
    /// When the approval expires.
    pub wake_at: Option<DateTime<Utc>>,
    /// Approvals so far.
    pub approvals: i64,
}

/// Approval steps waiting for decisions, oldest first, optionally of one workspace.
pub async fn waiting_approvals(
    conn: &mut PgConnection,
    workspace_id: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<WaitingApproval>> {
    sqlx::query_as!(
        WaitingApproval,
        r#"select r.id as run_id, r.workflow, r.workflow_version, r.initiator, r.workspace_id,
                  s.step_id, s.seq, s.created_at, s.wake_at,
                  (select count(*) from step_decisions d
                   where d.run_id = s.run_id and d.seq = s.seq and d.decision = 'approve')
                      as "approvals!"
           from runs r
           join run_steps s on s.run_id = r.id and s.seq = r.current_seq
           where r.status = 'waiting' and s.kind = 'approval' and s.status = 'waiting'
             and ($1::text is null or r.workspace_id = $1)
           order by s.created_at
           limit $2"#,
        workspace_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Every decision `actor` made in any of `run_ids`: `(run_id, seq, step_id)`.
pub async fn decisions_of(
    conn: &mut PgConnection,
    actor: &str,
    run_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, i32, String)>> {
    let rows = sqlx::query!(
        "select d.run_id, d.seq, s.step_id from step_decisions d
         join run_steps s on s.run_id = d.run_id and s.seq = d.seq
         where d.actor = $1 and d.run_id = any($2)",
        actor,
        run_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.run_id, row.seq, row.step_id))
        .collect())
}
