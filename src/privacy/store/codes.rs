//! `privacy_verification_codes`: one-time codes (their keyed digests only) per request.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A stored code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    /// 1 for the first code of the request.
    pub seq: i32,
    /// HMAC-SHA256 of the code (`SecretBox::digest`).
    pub code_digest: Vec<u8>,
    /// Until when it may be entered.
    pub expires_at: DateTime<Utc>,
    /// Wrong entries so far.
    pub attempts: i32,
    /// `open`, `used`, `superseded` or `exhausted`.
    pub status: String,
}

/// Stores a new code, superseding any open one; answers its number.
pub async fn issue(
    conn: &mut PgConnection,
    request_id: Uuid,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<i32> {
    sqlx::query(
        "update privacy_verification_codes set status = 'superseded'
         where request_id = $1 and status = 'open'",
    )
    .bind(request_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar(
        "insert into privacy_verification_codes (request_id, seq, code_digest, expires_at)
         values ($1, coalesce((select max(seq) from privacy_verification_codes
                               where request_id = $1), 0) + 1, $2, $3)
         returning seq",
    )
    .bind(request_id)
    .bind(digest)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

/// Records the message a code went out in.
pub async fn set_message(
    conn: &mut PgConnection,
    request_id: Uuid,
    seq: i32,
    message_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update privacy_verification_codes set message_id = $3 where request_id = $1 and seq = $2",
    )
    .bind(request_id)
    .bind(seq)
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The request's latest code, locked.
pub async fn latest_locked(
    conn: &mut PgConnection,
    request_id: Uuid,
) -> sqlx::Result<Option<CodeRow>> {
    sqlx::query_as::<_, CodeRow>(
        "select seq, code_digest, expires_at, attempts, status from privacy_verification_codes
         where request_id = $1 order by seq desc limit 1 for update",
    )
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// Records a wrong entry; the code is `exhausted` once it has `limit` of them.
pub async fn record_wrong(
    conn: &mut PgConnection,
    request_id: Uuid,
    seq: i32,
    limit: i32,
) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "update privacy_verification_codes
         set attempts = attempts + 1,
             status = case when attempts + 1 >= $3 then 'exhausted' else status end
         where request_id = $1 and seq = $2 returning attempts",
    )
    .bind(request_id)
    .bind(seq)
    .bind(limit)
    .fetch_one(conn)
    .await
}

/// Marks a code used.
pub async fn mark_used(conn: &mut PgConnection, request_id: Uuid, seq: i32) -> sqlx::Result<()> {
    sqlx::query(
        "update privacy_verification_codes set status = 'used' where request_id = $1 and seq = $2",
    )
    .bind(request_id)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}
