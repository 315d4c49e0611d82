//! The `api_keys` table. Tokens themselves are never stored, only their SHA-256. Every key
//! belongs to a person (`staff`), whose handle is read with it.

use super::ids::{KeyId, PersonId, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A stored key.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// Id.
    pub id: KeyId,
    /// Unique name of the key.
    pub name: String,
    /// The person the key belongs to.
    pub person_id: PersonId,
    /// That person's handle: the actor in history and the ledger.
    pub person: String,
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
    /// Who approved it (`None`: it waits for a second admin and does not work yet).
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<DateTime<Utc>>,
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
    /// Its person.
    pub person_id: PersonId,
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
    /// Approved at creation (by the creator), or left for a second admin.
    pub approved: bool,
}

/// Stores a key; `false` when the name is taken.
pub async fn insert(conn: &mut PgConnection, key: &NewKey<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into api_keys (id, name, person_id, role, workspace_id, token_sha256,
                               token_prefix, created_by, approved_by, approved_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8,
                 case when $9 then $8 end, case when $9 then now() end)
         on conflict (name) do nothing",
        key.id.uuid(),
        key.name,
        key.person_id.uuid(),
        key.role,
        key.workspace_id,
        key.token_sha256,
        key.token_prefix,
        key.created_by,
        key.approved
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The live (approved, not revoked) key with this token digest.
pub async fn find_live_by_digest(
    conn: &mut PgConnection,
    digest: &[u8],
) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select k.id, k.name, k.person_id, s.handle as person, k.role,
                  k.workspace_id as "workspace_id: WorkspaceId", k.token_prefix, k.created_by,
                  k.created_at, k.approved_by, k.approved_at, k.revoked_at, k.revoked_by
           from api_keys k join staff s on s.id = k.person_id
           where k.token_sha256 = $1 and k.revoked_at is null and k.approved_at is not null"#,
        digest
    )
    .fetch_optional(conn)
    .await
}

/// One key by id.
pub async fn get(conn: &mut PgConnection, id: KeyId) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select k.id, k.name, k.person_id, s.handle as person, k.role,
                  k.workspace_id as "workspace_id: WorkspaceId", k.token_prefix, k.created_by,
                  k.created_at, k.approved_by, k.approved_at, k.revoked_at, k.revoked_by
           from api_keys k join staff s on s.id = k.person_id
           where k.id = $1"#,
        id.uuid()
    )
    .fetch_optional(conn)
    .await
}

/// Keys, oldest first, optionally of one workspace or one person only.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: Option<&str>,
    person_id: Option<PersonId>,
) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select k.id, k.name, k.person_id, s.handle as person, k.role,
                  k.workspace_id as "workspace_id: WorkspaceId", k.token_prefix, k.created_by,
                  k.created_at, k.approved_by, k.approved_at, k.revoked_at, k.revoked_by
           from api_keys k join staff s on s.id = k.person_id
           where ($1::text is null or k.workspace_id = $1)
             and ($2::uuid is null or k.person_id = $2)
           order by k.created_at, k.name"#,
        workspace_id,
        person_id.map(|id| id.uuid())
    )
    .fetch_all(conn)
    .await
}

/// Revokes a live key; `false` when it does not exist or was already revoked.
pub async fn revoke(conn: &mut PgConnection, id: KeyId, by: &str) -> sqlx::Result<bool> {
    let revoked = sqlx::query!(
        "update api_keys set revoked_at = now(), revoked_by = $2
         where id = $1 and revoked_at is null",
        id.uuid(),
        by
    )
    .execute(conn)
    .await?;
    Ok(revoked.rows_affected() == 1)
}

/// Approves a live key waiting for approval; `false` when there is none such.
pub async fn approve(conn: &mut PgConnection, id: KeyId, by: &str) -> sqlx::Result<bool> {
    let approved = sqlx::query!(
        "update api_keys set approved_by = $2, approved_at = now()
         where id = $1 and revoked_at is null and approved_at is null",
        id.uuid(),
        by
    )
    .execute(conn)
    .await?;
    Ok(approved.rows_affected() == 1)
}

/// Whether any key exists at all (first start creates an admin key when none does).
pub async fn any_exist(conn: &mut PgConnection) -> sqlx::Result<bool> {
    let exists = sqlx::query_scalar!("select exists (select 1 from api_keys) as \"exists!\"")
        .fetch_one(conn)
        .await?;
    Ok(exists)
}
