//! Housekeeping every worker process does periodically: prune finished apalis job rows
//! (apalis never deletes them) and give stranded runs a new job.
//!
//! A run is stranded when apalis gave up on its job after the job's infrastructure
//! retries (the database was away for all of them): nothing would ever move it again.
//! Rescuing bumps the run's generation, so any late copy of the old job is harmless, and
//! enqueues a job for the current step; if a worker had died mid-attempt, the claim then
//! records that attempt as abandoned and starts a new one.

use std::future::Future;
use std::time::Duration;

use serde_json::json;

use crate::engine::execution::transition::Transition;
use crate::engine::{Engine, EngineError};
use crate::store;
use crate::store::jobs::STEP_QUEUE;
use crate::store::maintenance::Stranded;

/// How housekeeping behaves.
#[derive(Debug, Clone)]
pub struct MaintenanceSettings {
    /// How often it runs.
    pub every: Duration,
    /// Finished job rows older than this are deleted.
    pub job_retention: Duration,
    /// A run without a live job for this long is rescued.
    pub stranded_after: Duration,
}

/// Rows deleted per statement, so pruning never holds many locks at once.
const PRUNE_BATCH: i64 = 5_000;

/// Stranded runs rescued per pass.
const RESCUE_BATCH: i64 = 100;

impl Engine {
    /// Deletes finished job rows older than `retention`; returns how many.
    pub async fn prune_jobs(&self, retention: Duration) -> Result<u64, EngineError> {
        let mut total = 0;
        loop {
            let mut conn = self.pool.acquire().await?;
            let deleted = store::maintenance::prune_finished_jobs(
                &mut conn,
                STEP_QUEUE,
                retention.as_secs_f64(),
                PRUNE_BATCH,
            )
            .await?;
            total += deleted;
            if deleted < PRUNE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Gives every run stranded for `after` a new job; returns the runs rescued.
    pub async fn rescue_stranded(&self, after: Duration) -> Result<Vec<Stranded>, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let stranded = store::maintenance::stranded_runs(
            &mut conn,
            STEP_QUEUE,
            after.as_secs_f64(),
            RESCUE_BATCH,
        )
        .await?;
        drop(conn);
        let mut rescued = Vec::new();
        for found in stranded {
            if self.rescue(&found).await? {
                rescued.push(found);
            }
        }
        Ok(rescued)
    }

    /// Re-enqueues the current step of one stranded run, unless it moved meanwhile.
    async fn rescue(&self, found: &Stranded) -> Result<bool, EngineError> {
        let mut tx = self.pool.begin().await?;
        let Some(run) = store::runs::lock(&mut tx, found.run_id).await? else {
            return Ok(false);
        };
        if run.is_finished() || run.generation != found.generation {
            return Ok(false);
        }
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        let step_id = run.current_step.clone();
        let mut transition = Transition::new(&definition, run, None);
        transition.bump_generation();
        transition.enqueue_current(None);
        transition.record(
            "run_rescued",
            step_id.as_deref(),
            json!({ "reason": "no live job could move the run on; a new one was enqueued" }),
        );
        transition.commit_changes(&mut tx).await?;
        tx.commit().await?;
        tracing::warn!(run.id = %found.run_id, "rescued a run that had no live job");
        Ok(true)
    }
}

impl Engine {
    /// Marks every unfinished run past its workflow's `sla` once: an `sla_overdue` entry
    /// in its history and a `run.sla_overdue` audit entry, in one transaction. Answers
    /// how many were marked.
    pub async fn record_sla_breaches(&self) -> Result<usize, EngineError> {
        let mut marked = 0;
        for definition in self.catalog.all() {
            let Some(limit) = definition.sla else {
                continue;
            };
            let mut tx = self.pool.begin().await?;
            let overdue =
                store::sla::record_overdue(&mut tx, &definition.name, limit.as_secs_f64()).await?;
            let entries: Vec<crate::security::audit::AuditEntry> = overdue
                .iter()
                .map(|(run, workspace)| {
                    crate::security::audit::AuditEntry::now(
                        "engine",
                        "run.sla_overdue",
                        format!("run:{run}"),
                        workspace.as_deref(),
                        serde_json::json!({ "workflow": definition.name, "sla_seconds": limit.as_secs() }),
                    )
                })
                .collect();
            crate::security::audit::append(&mut tx, &entries).await?;
            tx.commit().await?;
            marked += overdue.len();
        }
        Ok(marked)
    }
}

/// Runs housekeeping every `settings.every` until `shutdown` resolves.
pub async fn run_maintenance(
    engine: Engine,
    settings: MaintenanceSettings,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(settings.every) => {}
        }
        match engine.prune_jobs(settings.job_retention).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned finished job rows"),
            Err(error) => tracing::warn!(error = %error, "pruning job rows failed; will retry"),
        }
        if let Err(error) = engine.rescue_stranded(settings.stranded_after).await {
            tracing::warn!(error = %error, "looking for stranded runs failed; will retry");
        }
        match engine.record_sla_breaches().await {
            Ok(0) => {}
            Ok(overdue) => tracing::warn!(overdue, "runs past their workflow's sla"),
            Err(error) => tracing::warn!(error = %error, "checking runs' sla failed; will retry"),
        }
    }
}
