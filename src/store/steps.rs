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

/// Records how an attempt ended.
pub async fn finish_attempt(
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
    decision: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into step_decisions (run_id, seq, actor, decision, reason)
         values ($1, $2, $3, $4, $5)
         on conflict do nothing",
        run_id,
        seq,
        actor,
        decision,
        reason
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
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
