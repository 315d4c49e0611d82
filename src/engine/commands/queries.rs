//! Read models for callers: a run with its step timeline and history, run lists, and
//! the approvals a caller may decide.

use crate::store::ids::RunId;

use crate::engine::definitions::definition::StepKind;
use crate::engine::{Engine, EngineError, commands::policy};
use crate::security::{Caller, InWorkspace, ListScope};
use crate::store;
use crate::store::attempts::AttemptRow;
use crate::store::history::HistoryRow;
use crate::store::runs::{RunFilter, RunRow};
use crate::store::steps::StepRow;

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
    /// Where the run stands against its workflow's `sla` (none without one).
    pub sla: Option<RunSla>,
}

/// A run against its workflow's `sla`.
#[derive(Debug, Clone, Copy)]
pub struct RunSla {
    /// When it is due (started + `sla`).
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// Its state now, or when it finished.
    pub state: crate::sla::SlaState,
}

impl RunSla {
    /// A run started at `created_at`, finished at `finished_at`, under `sla`.
    pub fn of(
        created_at: chrono::DateTime<chrono::Utc>,
        finished_at: Option<chrono::DateTime<chrono::Utc>>,
        sla: std::time::Duration,
    ) -> Option<Self> {
        let due_at = created_at + chrono::Duration::from_std(sla).ok()?;
        let at = finished_at.unwrap_or_else(chrono::Utc::now);
        Some(Self {
            due_at,
            state: crate::sla::state(due_at, at, crate::sla::run_warning(sla)),
        })
    }
}

/// Figures about the engine's state for `/metrics`, read from the database so every
/// replica reports the same numbers.
#[derive(Debug, Clone)]
pub struct Gauges {
    /// Runs in progress by workflow and status.
    pub runs_in_progress: Vec<store::metrics::RunCount>,
    /// Step jobs due and not yet started.
    pub queue_depth: i64,
    /// Approval steps waiting for decisions.
    pub pending_approvals: i64,
    /// Age of the oldest waiting approval, in seconds.
    pub oldest_approval_seconds: f64,
    /// Unfinished runs of workflows with an `sla`, by workflow and state.
    pub sla: Vec<(String, crate::sla::SlaState, i64)>,
}

/// Approvals waiting that a caller may decide now.
#[derive(Debug, Clone)]
pub struct OpenApproval {
    /// The waiting step visit.
    pub waiting: store::steps::WaitingApproval,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Roles that may decide.
    pub roles: Vec<String>,
}

/// Most waiting approvals looked at for one listing.
const APPROVALS_SCANNED: i64 = 1_000;

impl Engine {
    /// A run with its timeline.
    pub async fn run_detail(&self, id: RunId) -> Result<RunDetail, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let run = store::runs::get(&mut conn, id)
            .await?
            .ok_or(EngineError::RunNotFound(id))?;
        let steps = store::steps::list(&mut conn, id).await?;
        let attempts = store::attempts::list(&mut conn, id).await?;
        let history = store::history::list(&mut conn, id).await?;
        let sla = self
            .catalog
            .pinned(&mut conn, &run.workflow, run.workflow_version)
            .await?
            .sla
            .and_then(|sla| RunSla::of(run.created_at, run.finished_at, sla));
        Ok(RunDetail {
            run,
            steps,
            attempts,
            history,
            sla,
        })
    }

    /// A run with its timeline, if the caller may see it.
    pub async fn visible_run_detail(
        &self,
        caller: &Caller,
        id: RunId,
    ) -> Result<RunDetail, EngineError> {
        let detail = self.run_detail(id).await?;
        if caller.sees(detail.run.workspace()) {
            Ok(detail)
        } else {
            Err(EngineError::RunNotFound(id))
        }
    }

    /// A run without its timeline.
    pub async fn run(&self, id: RunId) -> Result<RunRow, EngineError> {
        let mut conn = self.pool.acquire().await?;
        store::runs::get(&mut conn, id)
            .await?
            .ok_or(EngineError::RunNotFound(id))
    }

    /// The run once it rests at a step that waits for someone (an approval, an event, a
    /// timer) or has finished, looking again every 50 ms for up to `patience`; the run as
    /// it stands then. A command deciding what a run waits for asks this first: the
    /// task before an approval may still be finishing.
    pub async fn run_at_rest(
        &self,
        id: RunId,
        patience: std::time::Duration,
    ) -> Result<RunRow, EngineError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let run = self.run(id).await?;
            let moving = match (&run.current_step, run.is_finished()) {
                (Some(step), false) => {
                    let mut conn = self.pool.acquire().await?;
                    let definition = self
                        .catalog
                        .pinned(&mut conn, &run.workflow, run.workflow_version)
                        .await?;
                    definition
                        .step(step)
                        .is_some_and(|step| step.kind_name() == "task")
                }
                _ => false,
            };
            if !moving || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Runs matching a filter, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, EngineError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::runs::list(&mut conn, filter).await?)
    }

    /// Runs matching a filter that the caller may see, newest first: the filter's
    /// workspace is narrowed to the caller's, and another workspace's runs are none.
    pub async fn list_visible_runs(
        &self,
        caller: &Caller,
        mut filter: RunFilter,
    ) -> Result<Vec<RunRow>, EngineError> {
        filter.workspace_id = match caller.list_scope(filter.workspace_id.as_deref()) {
            ListScope::Nothing => return Ok(vec![]),
            ListScope::All => None,
            ListScope::Workspace(id) => Some(id),
        };
        self.list_runs(&filter).await
    }

    /// The engine's gauges, now.
    pub async fn gauges(&self) -> Result<Gauges, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let runs_in_progress = store::metrics::runs_in_progress(&mut conn).await?;
        let queue_depth = store::metrics::queue_depth(&mut conn, store::jobs::STEP_QUEUE).await?;
        let (pending_approvals, oldest_approval_seconds) =
            store::metrics::pending_approvals(&mut conn).await?;
        let mut sla = Vec::new();
        for definition in self.catalog.all() {
            let Some(limit) = definition.sla else {
                continue;
            };
            let warning = crate::sla::run_warning(limit).num_seconds() as f64;
            let (on_track, due_soon, overdue) =
                store::sla::counts(&mut conn, &definition.name, limit.as_secs_f64(), warning)
                    .await?;
            for (state, count) in crate::sla::SlaState::ALL
                .into_iter()
                .zip([on_track, due_soon, overdue])
            {
                sla.push((definition.name.clone(), state, count));
            }
        }
        Ok(Gauges {
            runs_in_progress,
            queue_depth,
            pending_approvals,
            oldest_approval_seconds,
            sla,
        })
    }

    /// The approval steps `caller` may decide right now: visible to the key, the policy
    /// allows it, and it has not voted on them yet. Oldest first.
    pub async fn open_approvals(&self, caller: &Caller) -> Result<Vec<OpenApproval>, EngineError> {
        let mut conn = self.pool.acquire().await?;
        let waiting = store::steps::waiting_approvals(
            &mut conn,
            caller.workspace_id.as_deref(),
            APPROVALS_SCANNED,
        )
        .await?;
        let run_ids: Vec<RunId> = waiting.iter().map(|w| w.run_id).collect();
        let mine = store::steps::decisions_of(&mut conn, &caller.person, &run_ids).await?;
        let mut open = Vec::new();
        for item in waiting {
            let definition = self
                .catalog
                .pinned(&mut conn, &item.workflow, item.workflow_version)
                .await?;
            let Some(StepKind::Approval(spec)) = definition.step(&item.step_id).map(|s| &s.kind)
            else {
                continue;
            };
            let decided_here = mine
                .iter()
                .any(|(run, seq, _)| *run == item.run_id && *seq == item.seq);
            let decided_steps: Vec<String> = mine
                .iter()
                .filter(|(run, _, _)| *run == item.run_id)
                .map(|(_, _, step)| step.clone())
                .collect();
            let decider = policy::Decider {
                actor: &caller.person,
                role: caller.role,
                initiator: &item.initiator,
                decided_steps: &decided_steps,
                context: &item.context,
            };
            if decided_here || policy::check(spec, &item.step_id, &decider).is_err() {
                continue;
            }
            open.push(OpenApproval {
                quorum: spec.quorum,
                roles: spec.roles.clone(),
                waiting: item,
            });
        }
        Ok(open)
    }
}
