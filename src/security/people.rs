//! People: the staff members and systems keys belong to. A person is made by an admin of
//! every workspace; a workspace-confined admin sees the people holding keys of its
//! workspace, and only those keys.

use serde_json::json;
use sqlx::PgPool;

use super::audit::{self, AuditEntry};
use super::keys::{KeyError, KeyRow};
use super::names;
use super::roles::Caller;
use crate::store;
use crate::store::ids::PersonId;
pub use crate::store::people::PersonRow;

/// Makes a person without keys (give them keys with `person_id`).
pub async fn create(pool: &PgPool, caller: &Caller, handle: &str) -> Result<PersonRow, KeyError> {
    if caller.workspace_id.is_some() {
        return Err(KeyError::Confined(
            "a key confined to a workspace cannot make people; a key of theirs makes one".into(),
        ));
    }
    if let Some(refusal) = names::refusal(handle) {
        return Err(KeyError::Invalid(format!("handle `{handle}`: {refusal}")));
    }
    let id = PersonId::new();
    let mut tx = pool.begin().await?;
    let row = store::people::insert(&mut tx, id, handle, &caller.person)
        .await?
        .ok_or_else(|| KeyError::Invalid(format!("a person with handle `{handle}` exists")))?;
    let entry = AuditEntry::now(
        &caller.person,
        "person.created",
        format!("person:{id}"),
        None,
        json!({ "handle": handle }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(row)
}

/// A person and their keys, as far as the caller may see them.
pub async fn get(
    pool: &PgPool,
    caller: &Caller,
    id: PersonId,
) -> Result<(PersonRow, Vec<KeyRow>), KeyError> {
    let mut conn = pool.acquire().await?;
    let person = store::people::get(&mut conn, id)
        .await?
        .ok_or(KeyError::PersonNotFound(id))?;
    let keys =
        store::keys::list(&mut conn, caller.workspace_id.as_deref(), Some(person.id)).await?;
    if caller.workspace_id.is_some() && keys.is_empty() {
        return Err(KeyError::PersonNotFound(id));
    }
    Ok((person, keys))
}

/// Every person the caller may see, oldest first.
pub async fn list(pool: &PgPool, caller: &Caller) -> Result<Vec<PersonRow>, KeyError> {
    let mut conn = pool.acquire().await?;
    let people = store::people::list(&mut conn).await?;
    let Some(scope) = caller.workspace_id.as_deref() else {
        return Ok(people);
    };
    let keys = store::keys::list(&mut conn, Some(scope), None).await?;
    Ok(people
        .into_iter()
        .filter(|person| keys.iter().any(|key| key.person_id == person.id))
        .collect())
}
