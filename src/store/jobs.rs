//! Enqueueing step jobs on the apalis queue, inside the caller's transaction.

use std::time::{SystemTime, UNIX_EPOCH};

use apalis::prelude::TaskBuilder;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// The one queue every step job travels on. Named explicitly: apalis would otherwise
/// derive it from a Rust type path, and a rename would orphan queued jobs.
pub const STEP_QUEUE: &str = "bazaarstreet.steps";

/// Jobs apalis may re-run on its own after a worker error; the engine does its own
/// retries with backoff, so these only cover infrastructure faults (database gone).
const APALIS_MAX_ATTEMPTS: usize = 25;

/// What a step job carries. A job whose generation no longer matches the run's does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    /// The run.
    pub run_id: Uuid,
    /// The step the job is for.
    pub step_id: String,
    /// The run's generation when the job was enqueued.
    pub generation: i64,
}

/// A job to push, optionally not before an instant.
#[derive(Debug, Clone)]
pub struct PendingJob {
    /// The payload.
    pub job: StepJob,
    /// Earliest time to run; `None` for now.
    pub not_before: Option<DateTime<Utc>>,
}

/// Pushes jobs in the caller's transaction, so they exist only if the state change commits.
pub async fn push(
    conn: &mut PgConnection,
    jobs: &[PendingJob],
) -> Result<(), apalis_postgres::Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let tasks = jobs
        .iter()
        .map(|pending| {
            let bytes = serde_json::to_vec(&pending.job).expect("a StepJob always serialises");
            let mut builder = TaskBuilder::new(bytes).max_attempts(APALIS_MAX_ATTEMPTS);
            if let Some(at) = pending.not_before {
                builder = builder.run_at_timestamp(whole_seconds_not_before(at));
            }
            builder.build()
        })
        .collect();
    apalis_postgres::queries::push_tasks(conn, STEP_QUEUE, tasks).await
}

/// apalis stores `run_at` in whole seconds; rounding up means a job never fires early.
fn whole_seconds_not_before(at: DateTime<Utc>) -> u64 {
    let micros = at.timestamp_micros().max(0) as u64;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    micros.div_ceil(1_000_000).max(now)
}
