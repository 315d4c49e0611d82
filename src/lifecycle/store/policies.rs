//! `retention_policies`: the overrides of the documented defaults.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A stored override.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    /// Data-map category.
    pub category: String,
    /// `active` or `closed`.
    pub workspace_status: String,
    /// How long records are kept (`None`: for good).
    pub keep_seconds: Option<i64>,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// Every override.
pub async fn list(conn: &mut PgConnection) -> sqlx::Result<Vec<PolicyRow>> {
    sqlx::query_as::<_, PolicyRow>(
        "select category, workspace_status, keep_seconds, reason, updated_by, updated_at
         from retention_policies order by category, workspace_status",
    )
    .fetch_all(conn)
    .await
}

/// Every override, locked against a concurrent change (the audit entry records the value
/// each change replaced).
pub async fn lock_all(conn: &mut PgConnection) -> sqlx::Result<Vec<PolicyRow>> {
    sqlx::query("lock table retention_policies in share row exclusive mode")
        .execute(&mut *conn)
        .await?;
    list(conn).await
}

/// Sets one override.
pub async fn upsert(
    conn: &mut PgConnection,
    category: &str,
    workspace_status: &str,
    keep_seconds: Option<i64>,
    reason: &str,
    updated_by: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into retention_policies
             (category, workspace_status, keep_seconds, reason, updated_by)
         values ($1, $2, $3, $4, $5)
         on conflict (category, workspace_status) do update
         set keep_seconds = excluded.keep_seconds, reason = excluded.reason,
             updated_by = excluded.updated_by, updated_at = now()",
    )
    .bind(category)
    .bind(workspace_status)
    .bind(keep_seconds)
    .bind(reason)
    .bind(updated_by)
    .execute(conn)
    .await?;
    Ok(())
}
