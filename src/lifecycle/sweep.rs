//! The retention sweep: `workflows/retention_sweep.toml`, started nightly by
//! `jobs/retention_sweep.toml` (one run per tick across replicas: the tick is the run's
//! idempotency key). Its one step purges every swept table through [`super::purge`]
//! under the policies in force, then reports per table and workspace what was deleted,
//! what stayed held (with the holds) and how long it took. Killed mid-way, the step runs
//! again and carries on: what was deleted is counted once, in the batch that deleted it.
//! [`preview`] counts the same without deleting.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::purge::{self, DueCount, PurgeSettings};
use super::{retention, store};
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::engine::{Engine, EngineError, Run as RunRow};
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};
use crate::store::ids::RunId;

pub use super::store::sweeps::SweepCount;

/// The workflow a sweep runs.
pub const SWEEP_WORKFLOW: &str = "retention_sweep";

/// What the handler needs.
#[derive(Debug, Clone)]
pub struct SweepDeps {
    /// Database.
    pub pool: PgPool,
}

/// Registers `lifecycle.sweep`.
pub fn register(registry: &mut HandlerRegistry, deps: SweepDeps) {
    register_handlers!(registry, deps, {
        "lifecycle.sweep" => sweep,
    });
}

async fn sweep(deps: &SweepDeps, call: HandlerCall) -> Result<HandlerOutput, HandlerError> {
    let mut settings = PurgeSettings::default();
    if let Some(batch) = call.context["input"]["batch"].as_i64() {
        settings.batch = batch.clamp(1, 50_000);
    }
    let policies = retention::policies(&deps.pool).await?;
    let run_id = call.run_id.uuid();
    for plan in purge::plans(&policies) {
        let deleted = purge::purge(&deps.pool, run_id, &plan, &settings)
            .await
            // Retried per the step's policy, then the step fails with this reason.
            .map_err(|error| HandlerError::Retryable(error.to_string()))?;
        tracing::info!(
            table = plan.entry.table,
            deleted,
            "retention sweep purged a table"
        );
    }
    let mut tx = deps.pool.begin().await?;
    let lines = store::sweeps::report(&mut tx, run_id).await?;
    let report = report_json(&lines);
    let entry = AuditEntry::now(
        super::ACTOR,
        "retention.swept",
        format!("run:{run_id}"),
        None,
        json!({ "totals": report["totals"], "tables": report["tables"] }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(HandlerOutput::ok(report))
}

/// A sweep's report: per table (with its workspaces) and in total.
pub fn report_json(lines: &[store::sweeps::SweepCount]) -> Value {
    let mut tables = serde_json::Map::new();
    let (mut deleted, mut held) = (0, 0);
    for line in lines {
        deleted += line.deleted;
        held += line.held;
        let table = tables.entry(line.table_name.clone()).or_insert_with(
            || json!({ "deleted": 0, "anonymised": 0, "held": 0, "millis": 0, "workspaces": [] }),
        );
        for (field, n) in [
            ("deleted", line.deleted),
            ("anonymised", line.anonymised),
            ("held", line.held),
            ("millis", line.millis),
        ] {
            table[field] = json!(table[field].as_i64().unwrap_or(0) + n);
        }
        let worth_a_line = line.deleted > 0 || line.held > 0 || line.anonymised > 0;
        if worth_a_line && let Some(workspaces) = table["workspaces"].as_array_mut() {
            workspaces.push(json!({
                "workspace_id": (!line.workspace_id.is_empty()).then_some(&line.workspace_id),
                "deleted": line.deleted,
                "anonymised": line.anonymised,
                "held": line.held,
                "hold_ids": line.hold_ids,
            }));
        }
    }
    json!({ "totals": { "deleted": deleted, "held": held }, "tables": tables })
}

/// What a sweep now would do, per table and workspace, deleting nothing. A confined key
/// sees its own workspace's lines only.
pub async fn preview(pool: &PgPool, caller: &Caller) -> sqlx::Result<Vec<DueCount>> {
    let policies = retention::policies(pool).await?;
    let mut conn = pool.acquire().await?;
    let mut lines = Vec::new();
    for plan in purge::plans(&policies) {
        lines.extend(
            purge::count_due(&mut conn, &plan)
                .await?
                .into_iter()
                .filter(|line| {
                    let workspace =
                        (!line.workspace_id.is_empty()).then_some(line.workspace_id.as_str());
                    caller.sees(workspace)
                }),
        );
    }
    Ok(lines)
}

/// A sweep run and its report so far (it grows while the sweep runs); a run the caller
/// may not see, or one that is no sweep, is not found.
pub async fn visible_report(
    engine: &Engine,
    caller: &Caller,
    run_id: RunId,
) -> Result<(RunRow, Vec<store::sweeps::SweepCount>), EngineError> {
    let run = caller
        .visible(Some(engine.run(run_id).await?))
        .filter(|run| run.workflow == SWEEP_WORKFLOW)
        .ok_or(EngineError::RunNotFound(run_id))?;
    let mut conn = engine.pool().acquire().await?;
    let lines = store::sweeps::report(&mut conn, run_id.uuid()).await?;
    Ok((run, lines))
}
