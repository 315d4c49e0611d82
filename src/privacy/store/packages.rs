//! `privacy_packages`: access requests' export packages and their download links.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Stores a request's package (replacing one built before, as a repeated step does).
pub async fn put(
    conn: &mut PgConnection,
    request_id: Uuid,
    workspace_id: &str,
    customer: Option<&str>,
    manifest: &Value,
    files: &Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into privacy_packages (request_id, workspace_id, customer, manifest, files)
         values ($1, $2, $3, $4, $5)
         on conflict (request_id) do update
         set manifest = excluded.manifest, files = excluded.files, created_at = now()",
    )
    .bind(request_id)
    .bind(workspace_id)
    .bind(customer)
    .bind(manifest)
    .bind(files)
    .execute(conn)
    .await?;
    Ok(())
}

/// A package's manifest and whether its files are still there.
pub async fn manifest(
    conn: &mut PgConnection,
    request_id: Uuid,
) -> sqlx::Result<Option<(Value, bool)>> {
    sqlx::query_as("select manifest, files is not null from privacy_packages where request_id = $1")
        .bind(request_id)
        .fetch_optional(conn)
        .await
}

/// Gives the package a new link (the one before stops working).
pub async fn set_link(
    conn: &mut PgConnection,
    request_id: Uuid,
    token_digest: &[u8],
    expires_at: DateTime<Utc>,
    fetches: i32,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update privacy_packages set token_digest = $2, expires_at = $3, fetches_left = $4
         where request_id = $1 and files is not null",
    )
    .bind(request_id)
    .bind(token_digest)
    .bind(expires_at)
    .bind(fetches)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Takes one fetch of the package whose link token digests to `token_digest`: its request,
/// manifest and files, if the link still works.
pub async fn fetch(
    conn: &mut PgConnection,
    token_digest: &[u8],
) -> sqlx::Result<Option<(Uuid, Value, Value)>> {
    sqlx::query_as(
        "update privacy_packages set fetches_left = fetches_left - 1
         where token_digest = $1 and fetches_left > 0 and expires_at > now() and files is not null
         returning request_id, manifest, files",
    )
    .bind(token_digest)
    .fetch_optional(conn)
    .await
}

/// Deletes the files of packages whose link expired or was used up, or that were never
/// given a link within `unlinked_days`; answers how many.
pub async fn drop_spent(conn: &mut PgConnection, unlinked_days: i32) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "update privacy_packages set files = null, customer = null, token_digest = null
         where files is not null
           and ((expires_at is not null and (expires_at <= now() or fetches_left <= 0))
                or (expires_at is null and created_at < now() - make_interval(days => $1)))",
    )
    .bind(unlinked_days)
    .execute(conn)
    .await?
    .rows_affected())
}
