//! `retention_sweep_counts`: what each sweep did per table and workspace, written in the
//! transaction of the batch it counts.

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::lifecycle::purge::DueCount;

/// Adds a batch's deleted rows (and its time) to a sweep's count.
pub async fn add_deleted(
    conn: &mut PgConnection,
    run_id: Uuid,
    table: &str,
    workspace: &str,
    deleted: i64,
    millis: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into retention_sweep_counts (run_id, table_name, workspace_id, deleted, millis)
         values ($1, $2, $3, $4, $5)
         on conflict (run_id, table_name, workspace_id) do update
         set deleted = retention_sweep_counts.deleted + excluded.deleted,
             millis = retention_sweep_counts.millis + excluded.millis",
    )
    .bind(run_id)
    .bind(table)
    .bind(workspace)
    .bind(deleted)
    .bind(millis)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds time spent on a table without deleting (the last, empty batch).
pub async fn add_time(
    conn: &mut PgConnection,
    run_id: Uuid,
    table: &str,
    millis: i64,
) -> sqlx::Result<()> {
    add_deleted(conn, run_id, table, "", 0, millis).await
}

/// Records the rows that stayed held after a table's purge (replacing an earlier count
/// of the same sweep, so a resumed sweep does not add them twice).
pub async fn set_held(
    conn: &mut PgConnection,
    run_id: Uuid,
    table: &str,
    due: &[DueCount],
) -> sqlx::Result<()> {
    sqlx::query(
        "update retention_sweep_counts set held = 0, hold_ids = '{}'
         where run_id = $1 and table_name = $2",
    )
    .bind(run_id)
    .bind(table)
    .execute(&mut *conn)
    .await?;
    for count in due.iter().filter(|count| count.held > 0) {
        sqlx::query(
            "insert into retention_sweep_counts (run_id, table_name, workspace_id, held, hold_ids)
             values ($1, $2, $3, $4, $5)
             on conflict (run_id, table_name, workspace_id) do update
             set held = excluded.held, hold_ids = excluded.hold_ids",
        )
        .bind(run_id)
        .bind(table)
        .bind(&count.workspace_id)
        .bind(count.held)
        .bind(&count.hold_ids)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One line of a sweep's report.
#[derive(Debug, Clone)]
pub struct SweepCount {
    /// Table.
    pub table_name: String,
    /// Workspace (`""`: records of no workspace).
    pub workspace_id: String,
    /// Rows deleted.
    pub deleted: i64,
    /// Rows anonymised.
    pub anonymised: i64,
    /// Rows due but held.
    pub held: i64,
    /// The holds.
    pub hold_ids: Vec<Uuid>,
    /// Time spent, in milliseconds (on the table: summed over its workspaces' lines).
    pub millis: i64,
}

/// A sweep's report lines, by table and workspace.
pub async fn report(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<Vec<SweepCount>> {
    let rows = sqlx::query(
        "select table_name, workspace_id, deleted, anonymised, held, hold_ids, millis
         from retention_sweep_counts where run_id = $1 order by table_name, workspace_id",
    )
    .bind(run_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SweepCount {
                table_name: row.try_get("table_name")?,
                workspace_id: row.try_get("workspace_id")?,
                deleted: row.try_get("deleted")?,
                anonymised: row.try_get("anonymised")?,
                held: row.try_get("held")?,
                hold_ids: row.try_get("hold_ids")?,
                millis: row.try_get("millis")?,
            })
        })
        .collect()
}
