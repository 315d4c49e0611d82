//! The `api_keys` table. Tokens themselves are never stored, only their SHA-256.

use super::ids::{KeyId, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A stored key.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// Id.
    pub id: KeyId,
    /// Unique name; the actor in history and the ledger.
    pub name: String,
    /// Role name.
    pub role: String,
    /// Workspace the key is confined to.
    pub workspace_id: Option<WorkspaceId>,
    /// First characters of the token, for telling keys apart.
    pub token_prefix: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// Id.
    pub id: KeyId,
    /// Name.
    pub name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Workspace.
    pub workspace_id: Option<&'a str>,
    /// SHA-256 of the token.
    pub token_sha256: &'a [u8],
    /// Display prefix of the token.
    pub token_prefix: &'a str,
    /// Creator.
    pub created_by: &'a str,
}

/// Stores a key; `false` when the name is taken.
pub async fn insert(conn: &mut PgConnection, key: &NewKey<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into api_keys (id, name, role, workspace_id, token_sha256, token_prefix, created_by)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (name) do nothing",
        key.id.uuid(),
        key.name,
        key.role,
        key.workspace_id,
        key.token_sha256,
        key.token_prefix,
        key.created_by
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The live (not revoked) key with this token digest.
pub async fn find_live_by_digest(
    conn: &mut PgConnection,
    digest: &[u8],
) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select id, name, role, workspace_id as "workspace_id: WorkspaceId", token_prefix, created_by, created_at,
                revoked_at, revoked_by
         from api_keys where token_sha256 = $1 and revoked_at is null"#,
        digest
    )
    .fetch_optional(conn)
    .await
}

/// One key by id.
pub async fn get(conn: &mut PgConnection, id: KeyId) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select id, name, role, workspace_id as "workspace_id: WorkspaceId", token_prefix, created_by, created_at,
                revoked_at, revoked_by
         from api_keys where id = $1"#,
        id.uuid()
    )
    .fetch_optional(conn)
    .await
}

/// Keys, oldest first, optionally of one workspace only.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: Option<&str>,
) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select id, name, role, workspace_id as "workspace_id: WorkspaceId", token_prefix, created_by, created_at,
                revoked_at, revoked_by
         from api_keys where $1::text is null or workspace_id = $1
         order by created_at, name"#,
        workspace_id
    )
    .fetch_all(conn)
    .await
}

/// Revokes a live key; `None` when it does not exist or was already revoked.
pub async fn revoke(conn: &mut PgConnection, id: KeyId, by: &str) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"update api_keys set revoked_at = now(), revoked_by = $2
         where id = $1 and revoked_at is null
         returning id, name, role, workspace_id as "workspace_id: WorkspaceId", token_prefix, created_by, created_at,
                   revoked_at, revoked_by"#,
        id.uuid(),
        by
    )
    .fetch_optional(conn)
    .await
}

/// Whether any key exists at all (first start creates an admin key when none does).
pub async fn any_exist(conn: &mut PgConnection) -> sqlx::Result<bool> {
    let exists = sqlx::query_scalar!("select exists (select 1 from api_keys) as \"exists!\"")
        .fetch_one(conn)
        .await?;
    Ok(exists)
}
