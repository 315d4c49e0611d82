//! The `console_sessions` and `console_sign_ins` tables: the console's sign-in sessions
//! (found by the SHA-256 of their cookie's id) and sign-in attempts by address hash.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A live session with its key and the key's person.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// The key it was opened with.
    pub key_id: Uuid,
    /// The key's name.
    pub key_name: String,
    /// The key's person.
    pub person_id: Uuid,
    /// That person's handle.
    pub person: String,
    /// The key's role.
    pub role: String,
    /// The key's workspace, when confined to one.
    pub workspace_id: Option<String>,
    /// When the session began.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: DateTime<Utc>,
}

/// Stores a new session for `key_id`.
pub async fn insert(conn: &mut PgConnection, id_sha256: &[u8], key_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("insert into console_sessions (id_sha256, key_id) values ($1, $2)")
        .bind(id_sha256)
        .bind(key_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The session, if it has not ended and its key is live (approved, not revoked).
pub async fn find_live(
    conn: &mut PgConnection,
    id_sha256: &[u8],
) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(
        "select k.id as key_id, k.name as key_name, k.person_id, s.handle as person, k.role,
                k.workspace_id, c.created_at, c.last_seen_at
         from console_sessions c
         join api_keys k on k.id = c.key_id
         join staff s on s.id = k.person_id
         where c.id_sha256 = $1 and c.ended_at is null
           and k.revoked_at is null and k.approved_at is not null",
    )
    .bind(id_sha256)
    .fetch_optional(conn)
    .await
}

/// Records that the session was used now.
pub async fn touch(conn: &mut PgConnection, id_sha256: &[u8]) -> sqlx::Result<()> {
    sqlx::query("update console_sessions set last_seen_at = now() where id_sha256 = $1")
        .bind(id_sha256)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends the session with `reason`; answers whether it was still open.
pub async fn end(conn: &mut PgConnection, id_sha256: &[u8], reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update console_sessions set ended_at = now(), end_reason = $2
         where id_sha256 = $1 and ended_at is null",
    )
    .bind(id_sha256)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a sign-in attempt from `address_sha256`.
pub async fn record_attempt(
    conn: &mut PgConnection,
    address_sha256: &[u8],
    succeeded: bool,
) -> sqlx::Result<()> {
    sqlx::query("insert into console_sign_ins (address_sha256, succeeded) values ($1, $2)")
        .bind(address_sha256)
        .bind(succeeded)
        .execute(conn)
        .await?;
    Ok(())
}

/// Failed attempts from `address_sha256` since `since`.
pub async fn failures_since(
    conn: &mut PgConnection,
    address_sha256: &[u8],
    since: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from console_sign_ins
         where address_sha256 = $1 and at >= $2 and not succeeded",
    )
    .bind(address_sha256)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// Deletes attempts older than `before` (they only serve the rate limit).
pub async fn forget_attempts(conn: &mut PgConnection, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query("delete from console_sign_ins where at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
