//! Creating, approving, listing, revoking and authenticating API keys. Each change is
//! recorded in the audit ledger in its own transaction.
//!
//! Every key belongs to a person. A key of a role that approves what others do (admin,
//! compliance_officer, compliance_lead; [`Role::approves`]) made over the API works only
//! once an admin who is neither its creator nor its person approved it (NIST AC-5: who
//! administers access does not also approve its use). Keys made from the command line are
//! made by whoever runs the service with its database, and work at once.

use serde_json::json;
use sqlx::PgPool;

use super::audit::{self, AuditEntry};
use super::names;
use super::roles::{Caller, Role};
use super::tokens;
use super::visibility::{InWorkspace, visible_in};
use crate::store;
use crate::store::ids::{KeyId, PersonId};
pub use crate::store::keys::KeyRow;
use crate::store::keys::NewKey;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The name is refused or taken.
    #[error("{0}")]
    Invalid(String),
    /// No such live key (or not visible to the caller).
    #[error("no key {0}")]
    NotFound(KeyId),
    /// No such person (or not visible to the caller).
    #[error("no person {0}")]
    PersonNotFound(PersonId),
    /// The key would be confined to a workspace that does not exist.
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(String),
    /// A workspace-confined admin asked for what only an admin of every workspace may do.
    #[error("{0}")]
    Confined(String),
    /// The approval would let one person both make and approve a key.
    #[error("{0}")]
    SeparationOfDuties(String),
    /// The key is approved (or revoked) already.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// Unique name, e.g. `alice` or `crm-integration` (see [`names`]).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Confine the key to one workspace.
    pub workspace_id: Option<String>,
    /// The person the key is for; none: a new person whose handle is the key's name.
    pub person_id: Option<PersonId>,
}

/// Who makes or approves a key.
#[derive(Debug, Clone, Copy)]
pub enum Administrator<'a> {
    /// An admin over the API.
    Caller(&'a Caller),
    /// Whoever runs the service with its database (the command line, the first start),
    /// recorded under this name.
    Operator(&'static str),
}

impl Administrator<'_> {
    fn actor(&self) -> &str {
        match self {
            Administrator::Caller(caller) => &caller.person,
            Administrator::Operator(name) => name,
        }
    }

    fn scope(&self) -> Option<&str> {
        match self {
            Administrator::Caller(caller) => caller.workspace_id.as_deref(),
            Administrator::Operator(_) => None,
        }
    }
}

/// Creates a key; returns it with its token, which is never available again. A key of an
/// approving role made by an API caller waits for a second admin's approval.
pub async fn create(
    pool: &PgPool,
    request: &KeyRequest,
    by: Administrator<'_>,
) -> Result<(KeyRow, String), KeyError> {
    let name = request.name.as_str();
    if let Some(refusal) = names::refusal(name) {
        return Err(KeyError::Invalid(format!("key name `{name}`: {refusal}")));
    }
    let token = tokens::generate();
    let digest = tokens::digest(&token);
    let prefix = tokens::display_prefix(&token);
    let id = KeyId::new();
    let mut tx = pool.begin().await?;
    // A key confined to a workspace that does not exist yet would see it the moment
    // someone else created it. (A closed one may still be named: its keys can read it.)
    if let Some(workspace) = &request.workspace_id
        && store::workspace_refs::open(&mut tx, workspace)
            .await?
            .is_none()
    {
        return Err(KeyError::WorkspaceNotFound(workspace.clone()));
    }
    let mut entries = Vec::new();
    let person_id = match request.person_id {
        Some(person_id) => {
            // A key for someone else acts as them: only an admin of every workspace may
            // give an existing person another key.
            if by.scope().is_some() {
                return Err(KeyError::Confined(
                    "a key confined to a workspace cannot give keys to existing people; \
                     leave out person_id to make a new person"
                        .into(),
                ));
            }
            store::people::get(&mut tx, person_id)
                .await?
                .ok_or(KeyError::PersonNotFound(person_id))?
                .id
        }
        None => {
            let person_id = PersonId::new();
            if store::people::insert(&mut tx, person_id, name, by.actor())
                .await?
                .is_none()
            {
                return Err(KeyError::Invalid(format!(
                    "a person with handle `{name}` exists; pass their person_id to give \
                     them another key"
                )));
            }
            entries.push(AuditEntry::now(
                by.actor(),
                "person.created",
                format!("person:{person_id}"),
                request.workspace_id.as_deref(),
                json!({ "handle": name }),
            ));
            person_id
        }
    };
    let approved = matches!(by, Administrator::Operator(_)) || !request.role.approves();
    let stored = store::keys::insert(
        &mut tx,
        &NewKey {
            id,
            name,
            person_id,
            role: request.role.as_str(),
            workspace_id: request.workspace_id.as_deref(),
            token_sha256: &digest,
            token_prefix: &prefix,
            created_by: by.actor(),
            approved,
        },
    )
    .await?;
    if !stored {
        return Err(KeyError::Invalid(format!(
            "a key named `{name}` already exists (names are never reused)"
        )));
    }
    entries.push(AuditEntry::now(
        by.actor(),
        "key.created",
        format!("key:{id}"),
        request.workspace_id.as_deref(),
        json!({
            "name": name, "role": request.role.as_str(), "token_prefix": prefix,
            "person_id": person_id, "approved": approved,
        }),
    ));
    audit::append(&mut tx, &entries).await?;
    let row = store::keys::get(&mut tx, id)
        .await?
        .ok_or(KeyError::NotFound(id))?;
    tx.commit().await?;
    Ok((row, token))
}

/// Approves a key waiting for a second admin: the approver is neither the person who made
/// the key nor the person it is for.
pub async fn approve(pool: &PgPool, id: KeyId, by: Administrator<'_>) -> Result<KeyRow, KeyError> {
    let mut tx = pool.begin().await?;
    let key = store::keys::get(&mut tx, id)
        .await?
        .filter(|key| visible_in(by.scope(), key.workspace()) && key.revoked_at.is_none())
        .ok_or(KeyError::NotFound(id))?;
    if key.approved_at.is_some() {
        return Err(KeyError::Conflict(format!("key {id} is approved already")));
    }
    if let Administrator::Caller(caller) = by {
        if caller.person_id == key.person_id {
            return Err(KeyError::SeparationOfDuties(format!(
                "key {id} is for you (`{}`); another admin must approve it",
                caller.person
            )));
        }
        if caller.person == key.created_by {
            return Err(KeyError::SeparationOfDuties(format!(
                "you (`{}`) made key {id}; another admin must approve it",
                caller.person
            )));
        }
    }
    store::keys::approve(&mut tx, id, by.actor()).await?;
    let entry = AuditEntry::now(
        by.actor(),
        "key.approved",
        format!("key:{id}"),
        key.workspace_id.as_deref(),
        json!({ "role": key.role, "person_id": key.person_id, "created_by": key.created_by }),
    );
    audit::append(&mut tx, &[entry]).await?;
    let row = store::keys::get(&mut tx, id)
        .await?
        .ok_or(KeyError::NotFound(id))?;
    tx.commit().await?;
    Ok(row)
}

/// Revokes a key the administrator can see.
pub async fn revoke(pool: &PgPool, id: KeyId, by: Administrator<'_>) -> Result<KeyRow, KeyError> {
    let mut tx = pool.begin().await?;
    let visible = store::keys::get(&mut tx, id)
        .await?
        .filter(|key| visible_in(by.scope(), key.workspace()));
    if visible.is_none() || !store::keys::revoke(&mut tx, id, by.actor()).await? {
        return Err(KeyError::NotFound(id));
    }
    let row = store::keys::get(&mut tx, id)
        .await?
        .ok_or(KeyError::NotFound(id))?;
    let entry = AuditEntry::now(
        by.actor(),
        "key.revoked",
        format!("key:{id}"),
        row.workspace_id.as_deref(),
        json!({ "name": row.name, "role": row.role, "person_id": row.person_id }),
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

/// The caller a bearer token stands for; `None` for a malformed, unknown, revoked or not
/// yet approved token.
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
        key_name: row.name,
        person_id: row.person_id,
        person: row.person,
        role,
        workspace_id: row.workspace_id,
    }))
}

/// On a database without any key, creates the first admin key (for a person `admin`)
/// and returns its token.
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
        person_id: None,
    };
    match create(pool, &request, Administrator::Operator("bootstrap")).await {
        Ok(created) => Ok(Some(created)),
        // Two processes started at once and the other one created it (the name is unique).
        Err(KeyError::Invalid(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Keys visible in `scope` (every key when `None`), revoked ones included, optionally of
/// one person only.
pub async fn list(
    pool: &PgPool,
    scope: Option<&str>,
    person_id: Option<PersonId>,
) -> Result<Vec<KeyRow>, KeyError> {
    let mut conn = pool.acquire().await?;
    Ok(store::keys::list(&mut conn, scope, person_id).await?)
}
