//! What the core reads of the `workspaces` table, which the WhatsApp domain owns: whether
//! a workspace named by a run or a key exists, and whether it takes new work.

use sqlx::PgConnection;

/// `None` when there is no such workspace, `Some(false)` when it is closed.
pub async fn open(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!(
        r#"select status <> 'closed' as "open!" from workspaces where id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}
