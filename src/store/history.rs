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

/// Appends entries for one run in one statement.
pub async fn append(
    conn: &mut PgConnection,
    run_id: Uuid,
    entries: &[NewHistory],
) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let kinds: Vec<String> = entries.iter().map(|e| e.kind.to_owned()).collect();
    let steps: Vec<Option<String>> = entries.iter().map(|e| e.step_id.clone()).collect();
    let actors: Vec<Option<String>> = entries.iter().map(|e| e.actor.clone()).collect();
    let data: Vec<Value> = entries.iter().map(|e| e.data.clone()).collect();
    sqlx::query!(
        "insert into run_history (run_id, kind, step_id, actor, data)
         select $1, kind, step_id, actor, data
         from unnest($2::text[], $3::text[], $4::text[], $5::jsonb[])
         with ordinality as entry(kind, step_id, actor, data, n) order by n",
        run_id,
        &kinds,
        &steps as &[Option<String>],
        &actors as &[Option<String>],
        &data
    )
    .execute(conn)
    .await?;
    Ok(())
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
