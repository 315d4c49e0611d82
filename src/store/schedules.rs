//! Recurring schedule bookkeeping: when a schedule was first seen and its latest started tick.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A schedule's bookkeeping row.
#[derive(Debug, Clone)]
pub struct ScheduleRow {
    /// When any replica first loaded the schedule.
    pub first_seen_at: DateTime<Utc>,
    /// Latest tick that started a run.
    pub last_tick_at: Option<DateTime<Utc>>,
}

/// Creates the row if missing and returns it.
pub async fn ensure(conn: &mut PgConnection, name: &str) -> sqlx::Result<ScheduleRow> {
    sqlx::query!(
        "insert into schedules (name) values ($1) on conflict (name) do nothing",
        name
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_as!(
        ScheduleRow,
        "select first_seen_at, last_tick_at from schedules where name = $1",
        name
    )
    .fetch_one(conn)
    .await
}

/// Moves `last_tick_at` forward (never back).
pub async fn record_tick(
    conn: &mut PgConnection,
    name: &str,
    tick: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update schedules set last_tick_at = greatest(coalesce(last_tick_at, $2), $2) where name = $1",
        name,
        tick
    )
    .execute(conn)
    .await?;
    Ok(())
}
