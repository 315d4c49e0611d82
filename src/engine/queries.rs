//! Read models for callers: a run with its step timeline and history, and run lists.

use uuid::Uuid;

use super::{Engine, EngineError};
use crate::store;
use crate::store::history::HistoryRow;
use crate::store::runs::{RunFilter, RunRow};
use crate::store::steps::{AttemptRow, StepRow};

/// A run with everything that happened in it.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// The run.
    pub run: RunRow,
    /// Step visits in order.
    pub steps: Vec<StepRow>,
    /// Attempts of task steps, in order.
    pub attempts: Vec<AttemptRow>,
    /// History in order.
    pub history: Vec<HistoryRow>,
}

impl Engine {
    /// A run with its timeline.
    pub async fn run_detail(&self, id: Uuid) -> Result<RunDetail, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let run = store::runs::get(&mut conn, id)
            .await?
            .ok_or(EngineError::RunNotFound(id))?;
        let steps = store::steps::list(&mut conn, id).await?;
        let attempts = store::steps::list_attempts(&mut conn, id).await?;
        let history = store::history::list(&mut conn, id).await?;
        Ok(RunDetail {
            run,
            steps,
            attempts,
            history,
        })
    }

    /// A run without its timeline.
    pub async fn run(&self, id: Uuid) -> Result<RunRow, EngineError> {
        let mut conn = self.pool.acquire().await?;
        store::runs::get(&mut conn, id)
            .await?
            .ok_or(EngineError::RunNotFound(id))
    }

    /// Runs matching a filter, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, EngineError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::runs::list(&mut conn, filter).await?)
    }
}
