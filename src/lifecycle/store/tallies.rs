//! `erasure_tallies`: what an erasure changed so far, per table, counted in each batch's
//! transaction.

use sqlx::PgConnection;

/// Adds `rows` to `tally`'s count for `table`; answers the new count.
pub async fn add(
    conn: &mut PgConnection,
    tally: &str,
    table: &str,
    rows: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into erasure_tallies (tally, table_name, rows) values ($1, $2, $3)
         on conflict (tally, table_name) do update set rows = erasure_tallies.rows + excluded.rows
         returning rows",
    )
    .bind(tally)
    .bind(table)
    .bind(rows)
    .fetch_one(conn)
    .await
}

/// `tally`'s count for `table` so far.
pub async fn get(conn: &mut PgConnection, tally: &str, table: &str) -> sqlx::Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "select rows from erasure_tallies where tally = $1 and table_name = $2",
    )
    .bind(tally)
    .bind(table)
    .fetch_optional(conn)
    .await?
    .unwrap_or(0))
}
