//! The `runs` table: one row per workflow run, locked `for update` while it changes.

use super::ids::{RunId, WorkspaceId};
use super::status::RunStatus;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::history::{HistoryColumns, NewHistory};

/// A run row.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Run id (UUIDv7, so ids sort by creation time).
    pub id: RunId,
    /// Workflow name.
    pub workflow: String,
    /// Pinned definition version.
    pub workflow_version: i32,
    /// Workspace the run belongs to.
    pub workspace_id: Option<WorkspaceId>,
    /// Where it stands.
    pub status: RunStatus,
    /// The input the run started with.
    pub input: Value,
    /// `{input, steps}`.
    pub context: Value,
    /// Step the run is at; None once finished.
    pub current_step: Option<String>,
    /// Visit number of the current step in `run_steps`.
    pub current_seq: i32,
    /// Bumped on every state change that makes queued jobs stale.
    pub generation: i64,
    /// The key that makes starting idempotent, unique within its scope, workspace and
    /// workflow.
    pub idempotency_key: Option<String>,
    /// Whose key space `idempotency_key` is in: `caller` or `service`.
    pub idempotency_scope: Option<String>,
    /// Who started the run.
    pub initiator: String,
    /// Why the run failed.
    pub error: Option<String>,
    /// Why the run was cancelled.
    pub cancel_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunRow {
    /// Whether the run has reached a final status.
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// A run by id, without locking.
pub async fn get(conn: &mut PgConnection, id: RunId) -> sqlx::Result<Option<RunRow>> {
    sqlx::query_as!(RunRow, r#"select id, workflow, workflow_version, workspace_id as "workspace_id: WorkspaceId", status, input,
                context, current_step, current_seq, generation, idempotency_key, idempotency_scope, initiator, error,
                cancel_reason, created_at, updated_at, finished_at
         from runs where id = $1"#, id.uuid())
        .fetch_optional(conn)
        .await
}

/// A run by id, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: RunId) -> sqlx::Result<Option<RunRow>> {
    sqlx::query_as!(
        RunRow,
        r#"select id, workflow, workflow_version, workspace_id as "workspace_id: WorkspaceId", status, input,
                context, current_step, current_seq, generation, idempotency_key, idempotency_scope, initiator, error,
                cancel_reason, created_at, updated_at, finished_at
         from runs where id = $1 for update"#,
        id.uuid()
    )
    .fetch_optional(conn)
    .await
}

/// The run holding an idempotency key in its scope, workspace and workflow. Two
/// statements, one per kind of workspace, so that every column of the unique index is an
/// index condition (`is not distinct from` is not one: it scanned every key of the scope).
pub async fn by_idempotency_key(
    conn: &mut PgConnection,
    scope: &str,
    workspace_id: Option<&str>,
    workflow: &str,
    key: &str,
) -> sqlx::Result<Option<RunRow>> {
    match workspace_id {
        Some(workspace_id) => sqlx::query_as!(RunRow, r#"select id, workflow, workflow_version, workspace_id as "workspace_id: WorkspaceId", status, input,
                context, current_step, current_seq, generation, idempotency_key, idempotency_scope, initiator, error,
                cancel_reason, created_at, updated_at, finished_at
         from runs
         where idempotency_scope = $1 and workspace_id = $2
           and workflow = $3 and idempotency_key = $4"#, scope, workspace_id, workflow, key)
            .fetch_optional(conn)
            .await,
        None => sqlx::query_as!(RunRow, r#"select id, workflow, workflow_version, workspace_id as "workspace_id: WorkspaceId", status, input,
                context, current_step, current_seq, generation, idempotency_key, idempotency_scope, initiator, error,
                cancel_reason, created_at, updated_at, finished_at
         from runs
         where idempotency_scope = $1 and workspace_id is null
           and workflow = $2 and idempotency_key = $3"#, scope, workflow, key)
            .fetch_optional(conn)
            .await,
    }
}

/// Writes back the fields the engine changes for each run, appends the history entries
/// that describe the change, and one audit-ledger entry per run changed (chained later by
/// the chainer), all in one statement. The audit entry is the change: its action is
/// `run.<kind>` of the first history entry (what caused it: `run.run_started`,
/// `run.step_succeeded`, `run.decision_recorded`, …), its actor that entry's or
/// `engine_actor`, its subject `run:<id>`, and its data the workflow, that entry's step
/// and details, and under `then` what followed in the same change (the next step entered,
/// the run finished).
pub async fn save_many(
    conn: &mut PgConnection,
    changes: &[(&RunRow, &[NewHistory])],
    engine_actor: &str,
) -> sqlx::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let runs = || changes.iter().map(|(run, _)| *run);
    let ids: Vec<Uuid> = runs().map(|r| r.id.uuid()).collect();
    let statuses: Vec<String> = runs().map(|r| r.status.to_string()).collect();
    let contexts: Vec<Value> = runs().map(|r| r.context.clone()).collect();
    let current_steps: Vec<Option<String>> = runs().map(|r| r.current_step.clone()).collect();
    let current_seqs: Vec<i32> = runs().map(|r| r.current_seq).collect();
    let generations: Vec<i64> = runs().map(|r| r.generation).collect();
    let errors: Vec<Option<String>> = runs().map(|r| r.error.clone()).collect();
    let cancel_reasons: Vec<Option<String>> = runs().map(|r| r.cancel_reason.clone()).collect();
    let finished_ats: Vec<Option<DateTime<Utc>>> = runs().map(|r| r.finished_at).collect();
    let entries = || {
        changes
            .iter()
            .flat_map(|(run, history)| history.iter().map(move |entry| (run.id, entry)))
    };
    let entry_runs: Vec<Uuid> = entries().map(|(id, _)| id.uuid()).collect();
    let history = HistoryColumns::of(entries().map(|(_, entry)| entry));
    let audited: Vec<(Uuid, RunAudit)> = changes
        .iter()
        .filter_map(|(run, history)| Some((run.id.uuid(), RunAudit::of(history, engine_actor)?)))
        .collect();
    let audit_runs: Vec<Uuid> = audited.iter().map(|(id, _)| *id).collect();
    let audit_actions: Vec<String> = audited.iter().map(|(_, a)| a.action.clone()).collect();
    let audit_actors: Vec<String> = audited.iter().map(|(_, a)| a.actor.clone()).collect();
    let audit_data: Vec<Value> = audited.iter().map(|(_, a)| a.data.clone()).collect();
    sqlx::query!(
        "with changed as (
             select * from unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::int4[],
                                  $6::int8[], $7::text[], $8::text[], $9::timestamptz[])
                 as c(id, status, context, current_step, current_seq, generation, error,
                      cancel_reason, finished_at)
         ),
         saved as (
             update runs r
             set status = c.status, context = c.context, current_step = c.current_step,
                 current_seq = c.current_seq, generation = c.generation, error = c.error,
                 cancel_reason = c.cancel_reason, finished_at = c.finished_at,
                 updated_at = now()
             from changed c
             where r.id = any($1) and r.id = c.id
             returning r.id, r.workflow, r.workspace_id
         ),
         entry as (
             select run_id, kind, step_id, actor, data, n
             from unnest($10::uuid[], $11::text[], $12::text[], $13::text[], $14::jsonb[])
                  with ordinality as entry(run_id, kind, step_id, actor, data, n)
         ),
         history as (
             insert into run_history (run_id, kind, step_id, actor, data)
             select run_id, kind, step_id, actor, data from entry order by n
         ),
         audited as (
             insert into audit_ledger (at, actor, action, subject, workspace_id, data)
             select now(), audit.actor, audit.action, 'run:' || audit.run_id::text,
                    saved.workspace_id,
                    jsonb_build_object('workflow', saved.workflow) || audit.data
             from unnest($15::uuid[], $16::text[], $17::text[], $18::jsonb[])
                  with ordinality as audit(run_id, action, actor, data, n)
             join saved on saved.id = audit.run_id
             order by audit.n
             returning id
         )
         insert into audit_unchained (entry_id) select id from audited",
        &ids,
        &statuses,
        &contexts,
        &current_steps as &[Option<String>],
        &current_seqs,
        &generations,
        &errors as &[Option<String>],
        &cancel_reasons as &[Option<String>],
        &finished_ats as &[Option<DateTime<Utc>>],
        &entry_runs,
        &history.kinds,
        &history.step_ids as &[Option<String>],
        &history.actors as &[Option<String>],
        &history.data,
        &audit_runs,
        &audit_actions,
        &audit_actors,
        &audit_data
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What a change of a run writes to the audit ledger besides the run's own columns: one
/// entry named after its first history entry (what caused the change).
pub(super) struct RunAudit {
    /// The first entry's actor, or the engine's.
    pub(super) actor: String,
    /// `run.<kind of the first entry>`.
    pub(super) action: String,
    /// See [`audit_data`].
    pub(super) data: Value,
}

impl RunAudit {
    /// The audit entry of a change with this history; `None` for no history.
    pub(super) fn of(history: &[NewHistory], engine_actor: &str) -> Option<Self> {
        let (first, later) = history.split_first()?;
        Some(Self {
            actor: first.actor.as_deref().unwrap_or(engine_actor).to_owned(),
            action: format!("run.{}", first.kind),
            data: super::audit::ledger_safe(audit_data(first, later)),
        })
    }
}

/// The data of a change's audit entry, less the workflow: the first history entry's step
/// and details, and the entries that followed it in the same change.
fn audit_data(first: &NewHistory, later: &[NewHistory]) -> Value {
    let mut data = json!({ "step_id": first.step_id, "details": first.data });
    if !later.is_empty() {
        data["then"] = later
            .iter()
            .map(|entry| json!({ "kind": entry.kind, "step_id": entry.step_id, "details": entry.data }))
            .collect();
    }
    data
}

/// Filters for listing runs; `before` is the cursor (runs with a smaller id follow).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only this workspace.
    pub workspace_id: Option<String>,
    /// Only runs older than this id.
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: i64,
}

/// Runs matching the filter, newest first.
pub async fn list(conn: &mut PgConnection, filter: &RunFilter) -> sqlx::Result<Vec<RunRow>> {
    sqlx::query_as!(
        RunRow,
        r#"select id, workflow, workflow_version, workspace_id as "workspace_id: WorkspaceId", status, input,
                context, current_step, current_seq, generation, idempotency_key, idempotency_scope, initiator, error,
                cancel_reason, created_at, updated_at, finished_at
         from runs
         where ($1::text is null or workflow = $1)
           and ($2::text is null or status = $2)
           and ($3::text is null or workspace_id = $3)
           and ($4::uuid is null or id < $4)
         order by id desc
         limit $5"#,
        filter.workflow,
        filter.status.map(RunStatus::as_str),
        filter.workspace_id,
        filter.before,
        filter.limit
    )
    .fetch_all(conn)
    .await
}

/// Runs locked until the transaction ends, in id order so that concurrent batches cannot
/// deadlock.
pub async fn lock_many(conn: &mut PgConnection, ids: &[RunId]) -> sqlx::Result<Vec<RunRow>> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.uuid()).collect();
    sqlx::query_as!(
        RunRow,
        r#"select id, workflow, workflow_version, workspace_id as "workspace_id: WorkspaceId", status, input,
                context, current_step, current_seq, generation, idempotency_key, idempotency_scope, initiator, error,
                cancel_reason, created_at, updated_at, finished_at
         from runs where id = any($1) order by id for update"#,
        &ids
    )
    .fetch_all(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &'static str, step: &str) -> NewHistory {
        NewHistory {
            kind,
            step_id: Some(step.to_owned()),
            actor: None,
            data: json!({ "kind": kind }),
        }
    }

    #[test]
    fn a_change_is_audited_as_its_cause_with_what_followed() {
        let first = entry("step_succeeded", "a");
        let later = [entry("step_entered", "b")];
        let data = audit_data(&first, &later);
        assert_eq!(data["step_id"], "a");
        assert_eq!(data["details"], json!({ "kind": "step_succeeded" }));
        assert_eq!(
            data["then"],
            json!([{ "kind": "step_entered", "step_id": "b", "details": { "kind": "step_entered" } }])
        );
        let alone = audit_data(&first, &[]);
        assert!(alone.get("then").is_none(), "{alone}");
    }
}
