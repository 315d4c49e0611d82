//! Runs against their workflow's `sla`: counts by state for `/metrics`, and the one-time
//! `sla_overdue` history entry of a run past it.

use sqlx::PgConnection;
use uuid::Uuid;

/// Unfinished runs of `workflow` by state: (on track, due soon, overdue), for an `sla` of
/// `sla_seconds` due soon `warning_seconds` before.
pub async fn counts(
    conn: &mut PgConnection,
    workflow: &str,
    sla_seconds: f64,
    warning_seconds: f64,
) -> sqlx::Result<(i64, i64, i64)> {
    sqlx::query_as(
        "with due as (
             select created_at + make_interval(secs => $2) as due_at from runs
             where workflow = $1 and status in ('running', 'waiting')
         )
         select count(*) filter (where due_at - make_interval(secs => $3) > now())::int8,
                count(*) filter (where due_at - make_interval(secs => $3) <= now()
                                   and due_at >= now())::int8,
                count(*) filter (where due_at < now())::int8
         from due",
    )
    .bind(workflow)
    .bind(sla_seconds)
    .bind(warning_seconds)
    .fetch_one(conn)
    .await
}

/// Writes `sla_overdue` into the history of each unfinished run of `workflow` past its
/// `sla` that has none yet; answers those runs with their workspaces.
pub async fn record_overdue(
    conn: &mut PgConnection,
    workflow: &str,
    sla_seconds: f64,
) -> sqlx::Result<Vec<(Uuid, Option<String>)>> {
    sqlx::query_as(
        "with overdue as (
             select r.id, r.workspace_id, r.created_at from runs r
             where r.workflow = $1 and r.status in ('running', 'waiting')
               and r.created_at < now() - make_interval(secs => $2)
               and not exists (select 1 from run_history h
                               where h.run_id = r.id and h.kind = 'sla_overdue')
             limit 1000
         ), written as (
             insert into run_history (run_id, kind, data)
             select id, 'sla_overdue',
                    jsonb_build_object('sla_seconds', $2,
                                       'due_at', created_at + make_interval(secs => $2))
             from overdue
             returning run_id
         )
         select o.id, o.workspace_id from overdue o join written w on w.run_id = o.id",
    )
    .bind(workflow)
    .bind(sla_seconds)
    .fetch_all(conn)
    .await
}
