//! Housekeeping queries: pruning finished apalis job rows, finding runs without a job.

use super::ids::RunId;
use sqlx::PgConnection;

/// Deletes up to `batch` job rows of `queue` that finished (done, killed, or failed for
/// good) more than `older_than_secs` ago. Our own tables keep the history; these rows are
/// only transport.
pub async fn prune_finished_jobs(
    conn: &mut PgConnection,
    queue: &str,
    older_than_secs: f64,
    batch: i64,
) -> sqlx::Result<u64> {
    let deleted = sqlx::query!(
        "delete from apalis.jobs where id in (
             select id from apalis.jobs
             where job_type = $1
               and (status in ('Done', 'Killed')
                    or (status = 'Failed' and attempts >= max_attempts))
               and coalesce(done_at, lock_at, run_at) < now() - make_interval(secs => $2)
             limit $3)",
        queue,
        older_than_secs,
        batch
    )
    .execute(conn)
    .await?;
    Ok(deleted.rows_affected())
}

/// A run in progress with no job that could move it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stranded {
    /// Run.
    pub run_id: RunId,
    /// Its generation when found.
    pub generation: i64,
}

/// Runs that should be moving but have no live job: running for `grace_secs` without a
/// change, or waiting with a deadline or timer overdue by `grace_secs`, and no pending,
/// queued, running or still-retrying job of their current generation, nor a running job of
/// theirs of any generation (the job of a worker that continues the run inline). This is what is
/// left when apalis gives up on a job after its infrastructure retries.
pub async fn stranded_runs(
    conn: &mut PgConnection,
    queue: &str,
    grace_secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<Stranded>> {
    sqlx::query_as!(
        Stranded,
        r#"select r.id as run_id, r.generation
           from runs r
           join run_steps s on s.run_id = r.id and s.seq = r.current_seq
           where r.status in ('running', 'waiting')
             and r.updated_at < now() - make_interval(secs => $2)
             and (r.status = 'running'
                  or (s.wake_at is not null and s.wake_at < now() - make_interval(secs => $2)))
             and not exists (
                 select 1 from apalis.jobs j
                 where j.job_type = $1
                   and j.attempts < j.max_attempts
                   and ((j.status in ('Pending', 'Queued', 'Running', 'Failed')
                         and convert_from(j.job, 'UTF8')::jsonb
                             @> jsonb_build_object('run_id', r.id, 'generation', r.generation))
                        -- a job of an older generation still running carries a chain of
                        -- steps continued inline
                        or (j.status = 'Running'
                            and convert_from(j.job, 'UTF8')::jsonb
                                @> jsonb_build_object('run_id', r.id))))
           order by r.updated_at
           limit $3"#,
        queue,
        grace_secs,
        limit
    )
    .fetch_all(conn)
    .await
}
