//! Creating, listing, revoking and authenticating API keys. Creation and revocation are
//! recorded in the audit ledger in the same transaction.

use serde_json::json;
use sqlx::PgPool;

use super::audit::{self, AuditEntry};
use super::roles::{Caller, Role};
use super::tokens;
use super::visibility::{InWorkspace, visible_in};
use crate::store;
use crate::store::ids::KeyId;
pub use crate::store::keys::KeyRow;
use crate::store::keys::NewKey;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The name is empty, too long or taken.
    #[error("{0}")]
    Invalid(String),
    /// No such live key (or not visible to the caller).
    #[error("no key {0}")]
    NotFound(KeyId),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// Unique name, e.g. `alice` or `crm-integration`.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Confine the key to one workspace.
    pub workspace_id: Option<String>,
}

/// Longest key name.
pub const MAX_NAME_LEN: usize = 100;

/// Creates a key; returns it with its token, which is never available again.
pub async fn create(
    pool: &PgPool,
    request: &KeyRequest,
    created_by: &str,
) -> Result<(KeyRow, String), KeyError> {
    let name = request.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(KeyError::Invalid(format!(
            "a key name must be 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    let token = tokens::generate();
    let digest = tokens::digest(&token);
    let prefix = tokens::display_prefix(&token);
    let id = KeyId::new();
    let mut tx = pool.begin().await?;
    let stored = store::keys::insert(
        &mut tx,
        &NewKey {
            id,
            name,
            role: request.role.as_str(),
            workspace_id: request.workspace_id.as_deref(),
            token_sha256: &digest,
            token_prefix: &prefix,
            created_by,
        },
    )
    .await?;
    if !stored {
        return Err(KeyError::Invalid(format!(
            "a key named `{name}` already exists (names are never reused)"
        )));
    }
    let entry = AuditEntry::now(
        created_by,
        "key.created",
        format!("key:{id}"),
        request.workspace_id.as_deref(),
        json!({ "name": name, "role": request.role.as_str(), "token_prefix": prefix }),
    );
    audit::append(&mut tx, &[entry]).await?;
    let row = store::keys::get(&mut tx, id)
        .await?
        .ok_or(KeyError::NotFound(id))?;
    tx.commit().await?;
    Ok((row, token))
}

/// Revokes a key the caller can see (`scope`: the caller's workspace, if confined).
pub async fn revoke(
    pool: &PgPool,
    id: KeyId,
    scope: Option<&str>,
    revoked_by: &str,
) -> Result<KeyRow, KeyError> {
    let mut tx = pool.begin().await?;
    let visible = store::keys::get(&mut tx, id)
        .await?
        .filter(|key| visible_in(scope, key.workspace()));
    if visible.is_none() {
        return Err(KeyError::NotFound(id));
    }
    let row = store::keys::revoke(&mut tx, id, revoked_by)
        .await?
        .ok_or(KeyError::NotFound(id))?;
    let entry = AuditEntry::now(
        revoked_by,
        "key.revoked",
        format!("key:{id}"),
        row.workspace_id.as_deref(),
        json!({ "name": row.name, "role": row.role }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(row)
}

impl InWorkspace for KeyRow {
    fn workspace(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }
}

/// The caller a bearer token stands for; `None` for a malformed, unknown or revoked token.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Option<Caller>, sqlx::Error> {
    if !tokens::well_formed(token) {
        return Ok(None);
    }
    let mut conn = pool.acquire().await?;
    let Some(row) = store::keys::find_live_by_digest(&mut conn, &tokens::digest(token)).await?
    else {
        return Ok(None);
    };
    Ok(row.role.parse::<Role>().ok().map(|role| Caller {
        key_id: row.id,
        name: row.name,
        role,
        workspace_id: row.workspace_id,
    }))
}

/// On a database without any key, creates the first admin key and returns its token.
pub async fn bootstrap_admin(pool: &PgPool) -> Result<Option<(KeyRow, String)>, KeyError> {
    let mut conn = pool.acquire().await?;
    if store::keys::any_exist(&mut conn).await? {
        return Ok(None);
    }
    drop(conn);
    let request = KeyRequest {
        name: "admin".to_owned(),
        role: Role::Admin,
        workspace_id: None,
    };
    match create(pool, &request, "bootstrap").await {
        Ok(created) => Ok(Some(created)),
        // Two processes started at once and the other one created it (the name is unique).
        Err(KeyError::Invalid(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Keys visible in `scope` (every key when `None`), revoked ones included.
pub async fn list(pool: &PgPool, scope: Option<&str>) -> Result<Vec<KeyRow>, KeyError> {
    let mut conn = pool.acquire().await?;
    Ok(store::keys::list(&mut conn, scope).await?)
}
