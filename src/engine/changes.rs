//! What a batch of run changes writes, gathered first and then written with one statement
//! per table, in the order foreign keys need.

use super::EngineError;
use super::transition::ENGINE_ACTOR;
use crate::store;
use crate::store::attempts::{FinishedAttempt, StartedAttempt};
use crate::store::history::NewHistory;
use crate::store::jobs::PendingJob;
use crate::store::runs::RunRow;
use crate::store::steps::StepRow;
use sqlx::PgConnection;

/// Rows to write for one or many runs.
#[derive(Default)]
pub struct ChangeSet {
    /// Runs being started, as the start left them, with its history (inserted first: the
    /// other rows refer to them).
    pub started_runs: Vec<(RunRow, Vec<NewHistory>)>,
    /// Attempts that ended.
    pub finished_attempts: Vec<FinishedAttempt>,
    /// Step visits whose state changed.
    pub saved_steps: Vec<StepRow>,
    /// Step visits entered.
    pub new_steps: Vec<StepRow>,
    /// Attempts started with their step (runs continued inline).
    pub started_attempts: Vec<StartedAttempt>,
    /// Step jobs to enqueue.
    pub jobs: Vec<PendingJob>,
    /// Runs with the history entries describing their change.
    pub runs: Vec<(RunRow, Vec<NewHistory>)>,
}

impl ChangeSet {
    /// Writes everything in the caller's transaction.
    ///
    /// A run being started whose idempotency key another start took meanwhile is
    /// [`EngineError::StartRaced`], and nothing is written.
    pub async fn write(&self, conn: &mut PgConnection) -> Result<(), EngineError> {
        for (run, history) in &self.started_runs {
            if store::runs::insert_started(conn, run, history, ENGINE_ACTOR)
                .await?
                .is_none()
            {
                return Err(EngineError::StartRaced);
            }
        }
        store::attempts::finish_many(conn, &self.finished_attempts).await?;
        store::steps::save_many(conn, &self.saved_steps).await?;
        store::steps::insert_many(conn, &self.new_steps).await?;
        store::attempts::start_many(conn, &self.started_attempts).await?;
        store::jobs::push(conn, &self.jobs).await?;
        let runs: Vec<(&RunRow, &[NewHistory])> = self
            .runs
            .iter()
            .map(|(run, history)| (run, history.as_slice()))
            .collect();
        store::runs::save_many(conn, &runs, ENGINE_ACTOR).await?;
        Ok(())
    }
}
