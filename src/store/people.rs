//! The `staff` table: the people (staff members or systems) keys belong to.

use super::ids::PersonId;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A stored person.
#[derive(Debug, Clone)]
pub struct PersonRow {
    /// Id.
    pub id: PersonId,
    /// Unique handle; the actor in history and the ledger.
    pub handle: String,
    /// Who created the person.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Stores a person; `None` when the handle is taken.
pub async fn insert(
    conn: &mut PgConnection,
    id: PersonId,
    handle: &str,
    created_by: &str,
) -> sqlx::Result<Option<PersonRow>> {
    sqlx::query_as!(
        PersonRow,
        "insert into staff (id, handle, created_by) values ($1, $2, $3)
         on conflict (handle) do nothing
         returning id, handle, created_by, created_at",
        id.uuid(),
        handle,
        created_by
    )
    .fetch_optional(conn)
    .await
}

/// One person by id.
pub async fn get(conn: &mut PgConnection, id: PersonId) -> sqlx::Result<Option<PersonRow>> {
    sqlx::query_as!(
        PersonRow,
        "select id, handle, created_by, created_at from staff where id = $1",
        id.uuid()
    )
    .fetch_optional(conn)
    .await
}

/// Every person, oldest first.
pub async fn list(conn: &mut PgConnection) -> sqlx::Result<Vec<PersonRow>> {
    sqlx::query_as!(
        PersonRow,
        "select id, handle, created_by, created_at from staff order by created_at, handle"
    )
    .fetch_all(conn)
    .await
}
