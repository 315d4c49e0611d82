//! The inbound messages the reminders domain reads (`inbound_messages.reminders_seen`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// A customer's message not yet read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reply {
    /// Meta's message id.
    pub message_id: String,
    /// The workspace it came to.
    pub workspace_id: Option<String>,
    /// The customer's number.
    pub from_number: String,
    /// `text`, `button`, ...
    pub message_type: String,
    /// The message as Meta sent it.
    pub payload: Value,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// Up to `limit` unread messages, oldest first, locked (other processes skip them).
pub async fn unread(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Reply>> {
    sqlx::query_as(
        "select message_id, workspace_id, from_number, message_type, payload, received_at
         from inbound_messages where not reminders_seen
         order by received_at limit $1 for update skip locked",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks a message read.
pub async fn mark_read(conn: &mut PgConnection, message_id: &str) -> sqlx::Result<()> {
    sqlx::query("update inbound_messages set reminders_seen = true where message_id = $1")
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}
