//! Stored workflow definitions: every (name, version) ever registered, with its SHA-256.

use sqlx::PgConnection;

/// A stored definition.
#[derive(Debug, Clone)]
pub struct StoredDefinition {
    /// Workflow name.
    pub name: String,
    /// Version number.
    pub version: i32,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The file's text.
    pub source: String,
}

/// Inserts a definition unless that (name, version) exists; returns the stored SHA-256,
/// which differs from `sha256` when the file changed without a version bump.
pub async fn register(
    conn: &mut PgConnection,
    name: &str,
    version: i32,
    sha256: &str,
    description: &str,
    source: &str,
) -> sqlx::Result<String> {
    sqlx::query!(
        "insert into workflow_definitions (name, version, sha256, description, source)
         values ($1, $2, $3, $4, $5)
         on conflict (name, version) do nothing",
        name,
        version,
        sha256,
        description,
        source
    )
    .execute(&mut *conn)
    .await?;
    let stored = sqlx::query_scalar!(
        "select sha256 from workflow_definitions where name = $1 and version = $2",
        name,
        version
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(stored)
}

/// One stored version.
pub async fn get(
    conn: &mut PgConnection,
    name: &str,
    version: i32,
) -> sqlx::Result<Option<StoredDefinition>> {
    sqlx::query_as!(
        StoredDefinition,
        "select name, version, sha256, source from workflow_definitions
         where name = $1 and version = $2",
        name,
        version
    )
    .fetch_optional(conn)
    .await
}
