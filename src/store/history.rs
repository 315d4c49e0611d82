//! The run history: what happened to a run, appended in the transaction that made it happen.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// A history entry to write.
#[derive(Debug, Clone)]
pub struct NewHistory {
    /// What happened, e.g. `step_succeeded`.
    pub kind: &'static str,
    /// The step it happened to.
    pub step_id: Option<String>,
    /// Who caused it, when a person or key did.
    pub actor: Option<String>,
    /// Details.
    pub data: Value,
}

/// A stored history entry.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// Sequence.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: String,
    /// Step.
    pub step_id: Option<String>,
    /// Who.
    pub actor: Option<String>,
    /// Details.
    pub data: Value,
}

/// A run's history in order.
pub async fn list(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as!(
        HistoryRow,
        "select id, at, kind, step_id, actor, data from run_history where run_id = $1 order by id",
        run_id
    )
    .fetch_all(conn)
    .await
}
