//! An authority request's timeline, bound to the audit ledger
//! ([`crate::evidence::timeline`]): each entry is recorded as `authority_request.<kind>`
//! with its SHA-256.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::evidence::timeline::{self, Timeline, TimelineEvent};

/// Adds a timeline entry and its ledger entry; `ids` go into the ledger entry.
pub async fn record(
    conn: &mut PgConnection,
    id: Uuid,
    kind: &str,
    actor: &str,
    detail: Value,
    ids: Value,
) -> sqlx::Result<TimelineEvent> {
    timeline::record(conn, Timeline::Authority, id, kind, actor, &detail, ids).await
}
