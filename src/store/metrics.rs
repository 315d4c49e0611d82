//! Gauges for `/metrics` read from the database at scrape time, so every replica reports
//! the same cluster-wide numbers; each query is bounded by what is in progress.

use sqlx::PgConnection;

use super::status::RunStatus;

/// Runs in progress of one workflow and status.
#[derive(Debug, Clone)]
pub struct RunCount {
    /// Workflow.
    pub workflow: String,
    /// Running or waiting.
    pub status: RunStatus,
    /// How many.
    pub count: i64,
}

/// Runs not finished, by workflow and status: read through `runs_status_idx`, so a scrape
/// costs what is in progress, never the whole history (finished runs are counted by each
/// process as they finish: `bazaarstreet_runs_finished_total`).
pub async fn runs_in_progress(conn: &mut PgConnection) -> sqlx::Result<Vec<RunCount>> {
    sqlx::query_as!(
        RunCount,
        r#"select workflow, status, count(*) as "count!" from runs
           where status in ('running', 'waiting')
           group by workflow, status
           order by workflow, status"#
    )
    .fetch_all(conn)
    .await
}

/// Step jobs waiting to be executed (pending or fetched but not started).
pub async fn queue_depth(conn: &mut PgConnection, queue: &str) -> sqlx::Result<i64> {
    let depth = sqlx::query_scalar!(
        r#"select count(*) as "count!" from apalis.jobs
           where job_type = $1 and status in ('Pending', 'Queued') and run_at <= now()"#,
        queue
    )
    .fetch_one(conn)
    .await?;
    Ok(depth)
}

/// Approval steps waiting for decisions, and the age of the oldest in seconds.
pub async fn pending_approvals(conn: &mut PgConnection) -> sqlx::Result<(i64, f64)> {
    let row = sqlx::query!(
        r#"select count(*) as "count!",
                  coalesce(extract(epoch from now() - min(created_at))::float8, 0) as "oldest!"
           from run_steps where kind = 'approval' and status = 'waiting'"#
    )
    .fetch_one(conn)
    .await?;
    Ok((row.count, row.oldest))
}
