//! Events posted to runs (`run_events`): kept even when nothing waits for them yet, so an
//! event that arrives before its `wait_event` step is not lost.

use super::ids::RunId;
use serde_json::Value;
use sqlx::PgConnection;

/// An event a step consumed.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Id.
    pub id: i64,
    /// Payload.
    pub payload: Value,
}

/// Stores an event; returns its id.
pub async fn insert(
    conn: &mut PgConnection,
    run_id: RunId,
    name: &str,
    correlation: &str,
    payload: &Value,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into run_events (run_id, name, correlation, payload) values ($1, $2, $3, $4)
         returning id",
        run_id.uuid(),
        name,
        correlation,
        payload
    )
    .fetch_one(conn)
    .await
}

/// Marks the oldest unconsumed matching event as consumed by step visit `seq`.
/// `correlation` None matches any correlation.
pub async fn consume_matching(
    conn: &mut PgConnection,
    run_id: RunId,
    name: &str,
    correlation: Option<&str>,
    seq: i32,
) -> sqlx::Result<Option<EventRow>> {
    sqlx::query_as!(
        EventRow,
        "update run_events set consumed_seq = $4
         where id = (select id from run_events
                     where run_id = $1 and name = $2 and consumed_seq is null
                       and ($3::text is null or correlation = $3)
                     order by id limit 1)
         returning id, payload",
        run_id.uuid(),
        name,
        correlation,
        seq
    )
    .fetch_optional(conn)
    .await
}
