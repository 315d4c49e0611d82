//! The run history: what happened to a run, appended in the transaction that made it happen.

use super::ids::RunId;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

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

/// History entries as one array per column, for `unnest`.
pub(super) struct HistoryColumns {
    pub(super) kinds: Vec<String>,
    pub(super) step_ids: Vec<Option<String>>,
    pub(super) actors: Vec<Option<String>>,
    pub(super) data: Vec<Value>,
}

impl HistoryColumns {
    pub(super) fn of<'a>(entries: impl Iterator<Item = &'a NewHistory> + Clone) -> Self {
        Self {
            kinds: entries.clone().map(|e| e.kind.to_owned()).collect(),
            step_ids: entries.clone().map(|e| e.step_id.clone()).collect(),
            actors: entries.clone().map(|e| e.actor.clone()).collect(),
            data: entries.map(|e| e.data.clone()).collect(),
        }
    }
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
pub async fn list(conn: &mut PgConnection, run_id: RunId) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as!(
        HistoryRow,
        "select id, at, kind, step_id, actor, data from run_history where run_id = $1 order by id",
        run_id.uuid()
    )
    .fetch_all(conn)
    .await
}
