//! `hold_waits`: runs waiting until none of a set of legal holds is in force any more.

use sqlx::PgConnection;
use uuid::Uuid;

/// The channel a hold's release or expiry is announced on.
pub const CHANNEL: &str = "legal_holds_changed";

/// A run waiting for holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitRow {
    /// The run.
    pub run_id: Uuid,
    /// The event to post to it.
    pub event: String,
    /// The event's correlation.
    pub correlation: String,
    /// The holds it waits for.
    pub hold_ids: Vec<Uuid>,
}

/// Records (or replaces) a run's wait.
pub async fn register(conn: &mut PgConnection, wait: &WaitRow) -> sqlx::Result<()> {
    sqlx::query(
        "insert into hold_waits (run_id, event, correlation, hold_ids) values ($1, $2, $3, $4)
         on conflict (run_id) do update
         set event = excluded.event, correlation = excluded.correlation,
             hold_ids = excluded.hold_ids, since = now()",
    )
    .bind(wait.run_id)
    .bind(&wait.event)
    .bind(&wait.correlation)
    .bind(&wait.hold_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The waits none of whose holds is in force any more, locked (others' skipped).
pub async fn cleared(conn: &mut PgConnection) -> sqlx::Result<Vec<WaitRow>> {
    sqlx::query_as::<_, WaitRow>(
        "select w.run_id, w.event, w.correlation, w.hold_ids from hold_waits w
         where not exists (
             select 1 from legal_holds h
             where h.id = any (w.hold_ids) and h.status = 'active'
               and (h.expires_at is null or h.expires_at > now()))
         order by w.since limit 100
         for update of w skip locked",
    )
    .fetch_all(conn)
    .await
}

/// Removes a run's wait.
pub async fn remove(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("delete from hold_waits where run_id = $1")
        .bind(run_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Announces (at commit) that holds were released or expired.
pub async fn announce(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("select pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}
