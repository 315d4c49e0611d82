//! A run's start, written in one statement: the run as the start left it, the history of
//! the start and its audit entry, the step visits it entered, and its jobs (queued, or
//! held by this process's eager worker with the attempt that worker runs).
//!
//! One statement commits by itself, so a start needs neither `BEGIN` nor `COMMIT`: two
//! round trips fewer between a caller's request and its first step running.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::history::{HistoryColumns, NewHistory};
use super::jobs::{
    APALIS_MAX_ATTEMPTS, HeldJob, PendingJob, STEP_QUEUE, StepJob, whole_seconds_not_before,
};
use super::runs::{RunAudit, RunRow};
use super::steps::{StepColumns, StepRow};

/// Everything a start writes.
pub struct NewStart<'a> {
    /// The run as the start left it.
    pub run: &'a RunRow,
    /// The start's history, `run_started` first.
    pub history: &'a [NewHistory],
    /// Step visits entered.
    pub steps: &'a [StepRow],
    /// Jobs for the queue.
    pub jobs: &'a [PendingJob],
    /// The job (and attempt) handed to this process's eager worker.
    pub held: Option<&'a HeldJob>,
    /// Actor of the audit entry when the history names none.
    pub engine_actor: &'a str,
}

/// Jobs as one array per column: the queued ones (`holder` none, due at `not_before` in
/// whole seconds or now) and the held one.
#[derive(Default)]
struct JobColumns {
    payloads: Vec<Vec<u8>>,
    ids: Vec<String>,
    not_before: Vec<Option<i64>>,
    holders: Vec<Option<String>>,
}

impl JobColumns {
    fn push(&mut self, job: &StepJob, id: String, not_before: Option<i64>, holder: Option<String>) {
        self.payloads.push(job.payload());
        self.ids.push(id);
        self.not_before.push(not_before);
        self.holders.push(holder);
    }
}

/// Writes a start; answers `false` (and writes nothing) when its idempotency key is
/// already taken or its workspace does not exist or is closed. The workspace row is read
/// `for share`, so a start cannot commit beside a close: it waits and then sees it.
pub async fn insert(conn: &mut PgConnection, start: &NewStart<'_>) -> sqlx::Result<bool> {
    let NewStart { run, history, .. } = start;
    let entries = HistoryColumns::of(history.iter());
    let audit =
        RunAudit::of(history, start.engine_actor).expect("a start records at least `run_started`");
    let steps = StepColumns::of(start.steps);
    let attempts = start.held.map(|held| &held.attempt);
    let attempt_seqs: Vec<i32> = attempts.iter().map(|a| a.seq).collect();
    let attempt_numbers: Vec<i32> = attempts.iter().map(|a| a.attempt).collect();
    let attempt_workers: Vec<String> = attempts.iter().map(|a| a.worker.clone()).collect();
    let mut jobs = JobColumns::default();
    if let Some(held) = start.held {
        let holder = Some(held.attempt.worker.clone());
        jobs.push(&held.job, held.id.clone(), None, holder);
    }
    for pending in start.jobs {
        let not_before = pending
            .not_before
            .map(|at| whole_seconds_not_before(at) as i64);
        jobs.push(
            &pending.job,
            ulid::Ulid::new().to_string(),
            not_before,
            None,
        );
    }
    let written = sqlx::query_scalar!(
        r#"with open_workspace as (
               select id from workspaces where id = $4 and status <> 'closed' for share
           ),
           started as (
               insert into runs (id, workflow, workflow_version, workspace_id, status, input,
                                 context, current_step, current_seq, generation,
                                 idempotency_key, idempotency_scope, initiator, error,
                                 finished_at, created_at, updated_at)
               select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $43, $12, $13, $14, $15, $15
               where $4::text is null or exists (select 1 from open_workspace)
               on conflict (idempotency_scope, workspace_id, workflow, idempotency_key)
                   where idempotency_key is not null
                   do nothing
               returning id, workflow, workspace_id
           ),
           history as (
               insert into run_history (run_id, kind, step_id, actor, data)
               select started.id, entry.kind, entry.step_id, entry.actor, entry.data
               from started,
                    unnest($16::text[], $17::text[], $18::text[], $19::jsonb[])
                        with ordinality as entry(kind, step_id, actor, data, n)
               order by entry.n
           ),
           audit as (
               insert into audit_ledger (at, actor, action, subject, workspace_id, data)
               select now(), $20, $21, 'run:' || started.id::text, started.workspace_id,
                      jsonb_build_object('workflow', started.workflow) || $22::jsonb
               from started
               returning id
           ),
           unchained as (
               insert into audit_unchained (entry_id) select id from audit
           ),
           entered as (
               insert into run_steps (run_id, seq, step_id, kind, status, attempts, outcome,
                                      output, error, wake_at, started_at, finished_at)
               select started.id, step.*
               from started,
                    unnest($23::int4[], $24::text[], $25::text[], $26::text[], $27::int4[],
                           $28::text[], $29::jsonb[], $30::text[], $31::timestamptz[],
                           $32::timestamptz[], $33::timestamptz[])
                        as step(seq, step_id, kind, status, attempts, outcome, output, error,
                                wake_at, started_at, finished_at)
           ),
           attempt as (
               insert into step_attempts (run_id, seq, attempt, worker, status)
               select started.id, attempt.seq, attempt.attempt, attempt.worker, 'running'
               from started, unnest($34::int4[], $35::int4[], $36::text[])
                                 as attempt(seq, attempt, worker)
           ),
           queued as (
               -- As apalis pushes a job (queued: `Pending`, due at `not_before` in whole
               -- seconds or now), or held as src/store/jobs.rs's push_held holds one.
               insert into apalis.jobs (job, id, job_type, status, attempts, max_attempts,
                                        run_at, lock_at, lock_by)
               select job.payload, job.id, $37,
                      case when job.holder is null then 'Pending' else 'Running' end,
                      case when job.holder is null then 0 else 1 end,
                      $38,
                      case when job.holder is not null then now() + interval '1 second'
                           when job.not_before is null then now()
                           else to_timestamp(job.not_before) end,
                      case when job.holder is null then null else now() end,
                      job.holder
               from started, unnest($39::bytea[], $40::text[], $41::int8[], $42::text[])
                                 as job(payload, id, not_before, holder)
           )
           select id from started"#,
        run.id.uuid(),
        run.workflow,
        run.workflow_version,
        run.workspace_id.as_deref(),
        run.status.as_str(),
        run.input,
        run.context,
        run.current_step,
        run.current_seq,
        run.generation,
        run.idempotency_key,
        run.initiator,
        run.error,
        run.finished_at,
        run.created_at,
        &entries.kinds,
        &entries.step_ids as &[Option<String>],
        &entries.actors as &[Option<String>],
        &entries.data,
        audit.actor,
        audit.action,
        audit.data,
        &steps.seqs,
        &steps.step_ids,
        &steps.kinds,
        &steps.statuses,
        &steps.attempts,
        &steps.outcomes as &[Option<String>],
        &steps.outputs as &[Option<Value>],
        &steps.errors as &[Option<String>],
        &steps.wake_ats as &[Option<DateTime<Utc>>],
        &steps.started_ats as &[Option<DateTime<Utc>>],
        &steps.finished_ats as &[Option<DateTime<Utc>>],
        &attempt_seqs,
        &attempt_numbers,
        &attempt_workers,
        STEP_QUEUE,
        APALIS_MAX_ATTEMPTS as i32,
        &jobs.payloads,
        &jobs.ids,
        &jobs.not_before as &[Option<i64>],
        &jobs.holders as &[Option<String>],
        run.idempotency_scope
    )
    .fetch_optional(conn)
    .await?;
    Ok(written.is_some_and(|id: Uuid| id == run.id.uuid()))
}
