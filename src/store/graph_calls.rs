//! The `graph_calls` table: a record of every outbound Graph API call.

use sqlx::PgPool;
use uuid::Uuid;

/// A call to record.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    /// e.g. `oauth.exchange_code`, `template.create`.
    pub operation: &'a str,
    /// Workspace.
    pub workspace_id: Option<&'a str>,
    /// Run.
    pub run_id: Option<Uuid>,
    /// Step.
    pub step_id: Option<&'a str>,
    /// `ok` or `error`.
    pub outcome: &'a str,
    /// HTTP status, when there was an answer.
    pub http_status: Option<i32>,
    /// Graph error code, when Meta sent one.
    pub error_code: Option<i64>,
    /// How long the call took.
    pub duration_ms: f64,
}

/// Records one call (outside any caller's transaction: the call happened whatever
/// follows). The commit does not wait for the WAL flush (`synchronous_commit = off`): the
/// record is an operational log, so a crash of PostgreSQL itself may lose the last fraction
/// of a second of it, and in exchange a send costs no fsync of its own.
pub async fn insert(pool: &PgPool, call: &NewCall<'_>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("set local synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "insert into graph_calls (operation, workspace_id, run_id, step_id, outcome, http_status,
                                  error_code, duration_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        call.operation,
        call.workspace_id,
        call.run_id,
        call.step_id,
        call.outcome,
        call.http_status,
        call.error_code,
        call.duration_ms
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
