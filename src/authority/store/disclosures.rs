//! `authority_packages` and `authority_notices`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Stores (or replaces, on a repeated step) a request's package.
pub async fn put_package(
    conn: &mut PgConnection,
    id: Uuid,
    manifest: &Value,
    sha256: &str,
    files: &Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into authority_packages (request_id, manifest, sha256, files)
         values ($1, $2, $3, $4)
         on conflict (request_id) do update
         set manifest = excluded.manifest, sha256 = excluded.sha256, files = excluded.files,
             created_at = now()",
    )
    .bind(id)
    .bind(manifest)
    .bind(sha256)
    .bind(files)
    .execute(conn)
    .await?;
    Ok(())
}

/// A request's package: manifest, hash, files (`None` once removed) and until when the
/// files may be fetched.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PackageRow {
    /// The manifest.
    pub manifest: Value,
    /// SHA-256 of the canonical manifest.
    pub sha256: String,
    /// `{name: content}`.
    pub files: Option<Value>,
    /// Until when the files may be fetched (set at disclosure).
    pub files_expire_at: Option<DateTime<Utc>>,
}

/// A request's package.
pub async fn package(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PackageRow>> {
    sqlx::query_as(
        "select manifest, sha256, files, files_expire_at from authority_packages
         where request_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Opens the download window at disclosure.
pub async fn open_window(
    conn: &mut PgConnection,
    id: Uuid,
    until: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update authority_packages set files_expire_at = $2
         where request_id = $1 and files_expire_at is null",
    )
    .bind(id)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the files of packages whose window closed, and of packages never disclosed
/// whose request closed (withheld, rejected); the manifests stay.
pub async fn drop_spent(conn: &mut PgConnection) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update authority_packages p set files = null
         where files is not null
           and (files_expire_at < now()
                or (files_expire_at is null and exists (
                      select 1 from authority_requests r
                      where r.id = p.request_id and r.closed_at is not null)))",
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A notice to a business.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeRow {
    /// The request it is about.
    pub request_id: Uuid,
    /// The business told.
    pub workspace_id: String,
    /// `scheduled`, `sent` or `withheld`.
    pub status: String,
    /// When it is to be sent.
    pub send_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// What it says.
    pub body: Value,
    /// When it was first recorded.
    pub created_at: DateTime<Utc>,
}

/// Records a notice as `status`; a sent notice stays sent. Answers whether this call
/// sent it.
pub async fn put_notice(
    conn: &mut PgConnection,
    id: Uuid,
    workspace_id: &str,
    status: &str,
    send_at: Option<DateTime<Utc>>,
    body: &Value,
) -> sqlx::Result<bool> {
    let sent: Option<bool> = sqlx::query_scalar(
        "insert into authority_notices (request_id, workspace_id, status, send_at, sent_at, body)
         values ($1, $2, $3, $4, case when $3 = 'sent' then now() end, $5)
         on conflict (request_id, workspace_id) do update
         set status = excluded.status, send_at = excluded.send_at,
             sent_at = excluded.sent_at, body = excluded.body
         where authority_notices.status <> 'sent'
         returning status = 'sent'",
    )
    .bind(id)
    .bind(workspace_id)
    .bind(status)
    .bind(send_at)
    .bind(body)
    .fetch_optional(conn)
    .await?;
    Ok(sent == Some(true))
}

/// A request's notices.
pub async fn notices_of(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<NoticeRow>> {
    sqlx::query_as(
        "select request_id, workspace_id, status, send_at, sent_at, body, created_at
         from authority_notices where request_id = $1 order by workspace_id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// The notices sent to a workspace (or to every workspace), newest first.
pub async fn sent_to(
    conn: &mut PgConnection,
    workspace_id: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<NoticeRow>> {
    sqlx::query_as(
        "select request_id, workspace_id, status, send_at, sent_at, body, created_at
         from authority_notices
         where status = 'sent' and ($1::text is null or workspace_id = $1)
         order by sent_at desc limit $2",
    )
    .bind(workspace_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
