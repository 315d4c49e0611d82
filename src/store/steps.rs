//! Step visits (`run_steps`) and approval decisions (`step_decisions`); attempts are in
//! [`super::attempts`].

use super::ids::RunId;
use super::status::StepStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One visit of a step.
#[derive(Debug, Clone)]
pub struct StepRow {
    /// Run.
    pub run_id: RunId,
    /// Visit number within the run.
    pub seq: i32,
    /// Step id.
    pub step_id: String,
    /// Step kind.
    pub kind: String,
    /// Where the visit stands.
    pub status: StepStatus,
    /// Attempts started (tasks).
    pub attempts: i32,
    /// Outcome that chose the next step.
    pub outcome: Option<String>,
    /// Output.
    pub output: Option<Value>,
    /// Last error.
    pub error: Option<String>,
    /// When a timer, retry or wait deadline falls due.
    pub wake_at: Option<DateTime<Utc>>,
    /// Entered.
    pub created_at: DateTime<Utc>,
    /// First attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The columns of step visits, one array per column, for statements over many rows.
/// Step rows as one array per column, for `unnest`.
pub(super) struct StepColumns {
    pub(super) run_ids: Vec<Uuid>,
    pub(super) seqs: Vec<i32>,
    pub(super) step_ids: Vec<String>,
    pub(super) kinds: Vec<String>,
    pub(super) statuses: Vec<String>,
    pub(super) attempts: Vec<i32>,
    pub(super) outcomes: Vec<Option<String>>,
    pub(super) outputs: Vec<Option<Value>>,
    pub(super) errors: Vec<Option<String>>,
    pub(super) wake_ats: Vec<Option<DateTime<Utc>>>,
    pub(super) started_ats: Vec<Option<DateTime<Utc>>>,
    pub(super) finished_ats: Vec<Option<DateTime<Utc>>>,
}

impl StepColumns {
    pub(super) fn of(steps: &[StepRow]) -> Self {
        Self {
            run_ids: steps.iter().map(|s| s.run_id.uuid()).collect(),
            seqs: steps.iter().map(|s| s.seq).collect(),
            step_ids: steps.iter().map(|s| s.step_id.clone()).collect(),
            kinds: steps.iter().map(|s| s.kind.clone()).collect(),
            statuses: steps.iter().map(|s| s.status.to_string()).collect(),
            attempts: steps.iter().map(|s| s.attempts).collect(),
            outcomes: steps.iter().map(|s| s.outcome.clone()).collect(),
            outputs: steps.iter().map(|s| s.output.clone()).collect(),
            errors: steps.iter().map(|s| s.error.clone()).collect(),
            wake_ats: steps.iter().map(|s| s.wake_at).collect(),
            started_ats: steps.iter().map(|s| s.started_at).collect(),
            finished_ats: steps.iter().map(|s| s.finished_at).collect(),
        }
    }
}

/// Records entry into steps, in one statement.
pub async fn insert_many(conn: &mut PgConnection, steps: &[StepRow]) -> sqlx::Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let c = StepColumns::of(steps);
    sqlx::query!(
        "insert into run_steps (run_id, seq, step_id, kind, status, attempts, outcome, output,
                                error, wake_at, started_at, finished_at)
         select * from unnest($1::uuid[], $2::int4[], $3::text[], $4::text[], $5::text[],
                              $6::int4[], $7::text[], $8::jsonb[], $9::text[],
                              $10::timestamptz[], $11::timestamptz[], $12::timestamptz[])",
        &c.run_ids,
        &c.seqs,
        &c.step_ids,
        &c.kinds,
        &c.statuses,
        &c.attempts,
        &c.outcomes as &[Option<String>],
        &c.outputs as &[Option<Value>],
        &c.errors as &[Option<String>],
        &c.wake_ats as &[Option<DateTime<Utc>>],
        &c.started_ats as &[Option<DateTime<Utc>>],
        &c.finished_ats as &[Option<DateTime<Utc>>]
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back the mutable fields of step visits, in one statement.
pub async fn save_many(conn: &mut PgConnection, steps: &[StepRow]) -> sqlx::Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let c = StepColumns::of(steps);
    sqlx::query!(
        "update run_steps s
         set status = u.status, attempts = u.attempts, outcome = u.outcome, output = u.output,
             error = u.error, wake_at = u.wake_at, started_at = u.started_at,
             finished_at = u.finished_at
         from unnest($1::uuid[], $2::int4[], $3::text[], $4::int4[], $5::text[], $6::jsonb[],
                     $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[])
              as u(run_id, seq, status, attempts, outcome, output, error, wake_at, started_at,
                   finished_at)
         where s.run_id = any($1) and s.run_id = u.run_id and s.seq = u.seq",
        &c.run_ids,
        &c.seqs,
        &c.statuses,
        &c.attempts,
        &c.outcomes as &[Option<String>],
        &c.outputs as &[Option<Value>],
        &c.errors as &[Option<String>],
        &c.wake_ats as &[Option<DateTime<Utc>>],
        &c.started_ats as &[Option<DateTime<Utc>>],
        &c.finished_ats as &[Option<DateTime<Utc>>]
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back a step visit's mutable fields.
pub async fn save(conn: &mut PgConnection, step: &StepRow) -> sqlx::Result<()> {
    save_many(conn, std::slice::from_ref(step)).await
}

/// One visit.
pub async fn get(
    conn: &mut PgConnection,
    run_id: RunId,
    seq: i32,
) -> sqlx::Result<Option<StepRow>> {
    sqlx::query_as!(
        StepRow,
        "select run_id, seq, step_id, kind, status, attempts, outcome, output, error, wake_at,
                created_at, started_at, finished_at
         from run_steps where run_id = $1 and seq = $2",
        run_id.uuid(),
        seq
    )
    .fetch_optional(conn)
    .await
}

/// The visits named by `(run id, seq)` pairs.
pub async fn get_many(
    conn: &mut PgConnection,
    wanted: &[(RunId, i32)],
) -> sqlx::Result<Vec<StepRow>> {
    let run_ids: Vec<Uuid> = wanted.iter().map(|(id, _)| id.uuid()).collect();
    let seqs: Vec<i32> = wanted.iter().map(|(_, seq)| *seq).collect();
    let rows = sqlx::query_as!(
        StepRow,
        "select run_id, seq, step_id, kind, status, attempts, outcome, output, error, wake_at,
                created_at, started_at, finished_at
         from run_steps where run_id = any($1) and seq = any($2)",
        &run_ids,
        &seqs
    )
    .fetch_all(conn)
    .await?;
    // `any` matches every combination of the two lists; keep the pairs asked for.
    let wanted: std::collections::HashSet<&(RunId, i32)> = wanted.iter().collect();
    Ok(rows
        .into_iter()
        .filter(|row| wanted.contains(&(row.run_id, row.seq)))
        .collect())
}

/// Every visit of a run, in order.
pub async fn list(conn: &mut PgConnection, run_id: RunId) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as!(
        StepRow,
        "select run_id, seq, step_id, kind, status, attempts, outcome, output, error, wake_at,
                created_at, started_at, finished_at
         from run_steps where run_id = $1 order by seq",
        run_id.uuid()
    )
    .fetch_all(conn)
    .await
}

/// Records a decision; returns false when this actor already decided this visit.
pub async fn insert_decision(
    conn: &mut PgConnection,
    run_id: RunId,
    seq: i32,
    actor: &str,
    role: &str,
    decision: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into step_decisions (run_id, seq, actor, role, decision, reason)
         values ($1, $2, $3, $4, $5, $6)
         on conflict do nothing",
        run_id.uuid(),
        seq,
        actor,
        role,
        decision,
        reason
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Every step visit of a run that `actor` has decided: `(seq, step_id)`.
pub async fn decided_by(
    conn: &mut PgConnection,
    run_id: RunId,
    actor: &str,
) -> sqlx::Result<Vec<(i32, String)>> {
    let rows = sqlx::query!(
        "select d.seq, s.step_id from step_decisions d
         join run_steps s on s.run_id = d.run_id and s.seq = d.seq
         where d.run_id = $1 and d.actor = $2",
        run_id.uuid(),
        actor
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| (row.seq, row.step_id)).collect())
}

/// Approvals recorded on a visit.
pub async fn count_approvals(
    conn: &mut PgConnection,
    run_id: RunId,
    seq: i32,
) -> sqlx::Result<i64> {
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from step_decisions
           where run_id = $1 and seq = $2 and decision = 'approve'"#,
        run_id.uuid(),
        seq
    )
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// An approval step visit waiting for decisions.
#[derive(Debug, Clone)]
pub struct WaitingApproval {
    /// Run.
    pub run_id: RunId,
    /// Workflow of the run.
    pub workflow: String,
    /// Pinned version.
    pub workflow_version: i32,
    /// Who started the run.
    pub initiator: String,
    /// Workspace of the run.
    pub workspace_id: Option<String>,
    /// Step id.
    pub step_id: String,
    /// Visit number.
    pub seq: i32,
    /// Waiting since.
    pub created_at: DateTime<Utc>,
    /// When the approval expires.
    pub wake_at: Option<DateTime<Utc>>,
    /// Approvals so far.
    pub approvals: i64,
    /// The run's context (where `not_named_at` paths point).
    pub context: serde_json::Value,
}

/// Approval steps waiting for decisions, oldest first, optionally of one workspace.
pub async fn waiting_approvals(
    conn: &mut PgConnection,
    workspace_id: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<WaitingApproval>> {
    sqlx::query_as!(
        WaitingApproval,
        r#"select r.id as run_id, r.workflow, r.workflow_version, r.initiator, r.workspace_id,
                  s.step_id, s.seq, s.created_at, s.wake_at, r.context,
                  (select count(*) from step_decisions d
                   where d.run_id = s.run_id and d.seq = s.seq and d.decision = 'approve')
                      as "approvals!"
           from runs r
           join run_steps s on s.run_id = r.id and s.seq = r.current_seq
           where r.status = 'waiting' and s.kind = 'approval' and s.status = 'waiting'
             and ($1::text is null or r.workspace_id = $1)
           order by s.created_at
           limit $2"#,
        workspace_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Every decision `actor` made in any of `run_ids`: `(run_id, seq, step_id)`.
pub async fn decisions_of(
    conn: &mut PgConnection,
    actor: &str,
    run_ids: &[RunId],
) -> sqlx::Result<Vec<(RunId, i32, String)>> {
    let run_ids: Vec<Uuid> = run_ids.iter().map(|id| id.uuid()).collect();
    let rows = sqlx::query!(
        "select d.run_id, d.seq, s.step_id from step_decisions d
         join run_steps s on s.run_id = d.run_id and s.seq = d.seq
         where d.actor = $1 and d.run_id = any($2)",
        actor,
        &run_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.run_id.into(), row.seq, row.step_id))
        .collect())
}
