//! The purge engine: deletes a table's records that a selector picks, in bounded
//! batches of short transactions, never a record under a legal hold. Driven by the data
//! map: each swept table's [`Locate`] says how its records' workspace, customers and time
//! are found. Each batch asks `legal_holds_covering` in the statement that deletes, so a
//! hold placed a moment before is honoured; if the check cannot be evaluated (an error,
//! or the statement timeout), the batch rolls back and nothing of it is deleted: the
//! purge fails closed, naming the reason.
//!
//! Counts are written in the batch's own transaction ([`store::sweeps`]), so a purge
//! resumed after a crash never counts a row twice; concurrent purges lock their batches
//! (`for update skip locked`), so no batch is deleted twice.

use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool, Row};

use super::data_map::{Category, Locate, TABLES, TableEntry};
use super::store;
use crate::metrics::{Counter, METRICS};

/// What a purge of one table deletes.
#[derive(Debug, Clone, Copy)]
pub struct Expired {
    /// Records of workspaces not closed older than this (`None`: none).
    pub active: Option<Duration>,
    /// Records of closed workspaces older than this.
    pub closed: Option<Duration>,
}

/// A swept table and what of it is due.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The data-map entry.
    pub entry: &'static TableEntry,
    /// How its records are found.
    pub locate: Locate,
    /// The time column.
    pub time: &'static str,
    /// What is due.
    pub expired: Expired,
}

/// How purges behave.
#[derive(Debug, Clone, Copy)]
pub struct PurgeSettings {
    /// Rows per batch (one short transaction each).
    pub batch: i64,
    /// Longest one batch's statement may run; past it the batch deletes nothing.
    pub statement_timeout: Duration,
}

impl Default for PurgeSettings {
    fn default() -> Self {
        Self {
            batch: 5_000,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a purge stopped.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The hold check (or the delete around it) could not be evaluated: nothing of the
    /// batch was deleted.
    #[error("nothing deleted from {table}: the legal-hold check could not be evaluated ({cause})")]
    HoldCheck {
        /// The table.
        table: &'static str,
        /// The database's reason.
        cause: sqlx::Error,
    },
    /// The database failed elsewhere.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Every swept table with the policy in force for its category.
pub fn plans(policies: &[super::retention::Policy]) -> Vec<Plan> {
    use super::retention::WorkspaceStatus;
    TABLES
        .iter()
        .filter_map(|entry| {
            let locate = entry.locate.filter(|_| entry.swept)?;
            let time = entry.retention_from?;
            let keep = |status| {
                policies
                    .iter()
                    .find(|p| p.category == entry.category && p.workspace_status == status)
                    .and_then(|p| p.keep)
            };
            Some(Plan {
                entry,
                locate,
                time,
                expired: Expired {
                    active: keep(WorkspaceStatus::Active),
                    closed: keep(WorkspaceStatus::Closed),
                },
            })
        })
        .collect()
}

/// The `from … where …` of a plan's due records (binds `$1` active seconds, `$2` closed
/// seconds); every column is over `t`, the workspace joined as `w`.
fn due_rows(plan: &Plan) -> String {
    let Locate {
        workspace, only, ..
    } = plan.locate;
    let (table, time) = (plan.entry.table, plan.time);
    format!(
        "from {table} t left join workspaces w on w.id = {workspace}
         where {only}
           and t.{time} < now() - make_interval(secs => least($1::float8, $2::float8))
           and t.{time} < now() - make_interval(secs =>
                   case when w.status = 'closed' then $2::float8 else $1::float8 end)"
    )
}

/// `legal_holds_covering(...)` for a plan's record `t`.
fn holds_of(plan: &Plan) -> String {
    holds_expr(plan.entry, &plan.locate, Some(plan.time))
}

/// `legal_holds_covering(...)` for record `t` of `entry`, timed by column `time`.
pub(super) fn holds_expr(entry: &TableEntry, locate: &Locate, time: Option<&str>) -> String {
    let Locate {
        workspace,
        customers,
        mentions,
        ..
    } = locate;
    let at = time.map_or_else(|| "null".to_owned(), |column| format!("t.{column}"));
    format!(
        "legal_holds_covering('{}', {workspace}, {customers}, {mentions}, {at})",
        entry.category.as_str()
    )
}

fn seconds(duration: Option<Duration>) -> Option<f64> {
    duration.map(|d| d.as_secs_f64())
}

/// Deletes one batch of `plan`'s due, unheld records; returns (workspace, rows) deleted.
async fn purge_batch(
    conn: &mut PgConnection,
    plan: &Plan,
    batch: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    let sql = format!(
        "with doomed as (
             select t.ctid as tid {due}
               and cardinality({holds}) = 0
             limit $3
             for update of t skip locked
         ), gone as (
             delete from {table} t where t.ctid = any (array(select tid from doomed))
             returning {workspace} as ws
         )
         select coalesce(ws, '') as ws, count(*)::int8 as n from gone group by 1",
        due = due_rows(plan),
        holds = holds_of(plan),
        table = plan.entry.table,
        workspace = plan.locate.workspace,
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seconds(plan.expired.active))
        .bind(seconds(plan.expired.closed))
        .bind(batch)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("ws")?, row.try_get("n")?)))
        .collect()
}

/// Per workspace: due records that would be deleted, and those held with the holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCount {
    /// Table.
    pub table: &'static str,
    /// Category.
    pub category: Category,
    /// Workspace (`""`: none).
    pub workspace_id: String,
    /// Due and not held.
    pub purgeable: i64,
    /// Due but held.
    pub held: i64,
    /// The holds.
    pub hold_ids: Vec<uuid::Uuid>,
}

/// Counts `plan`'s due records, purgeable and held, per workspace, deleting nothing.
pub async fn count_due(conn: &mut PgConnection, plan: &Plan) -> sqlx::Result<Vec<DueCount>> {
    let sql = format!(
        "with due as (
             select coalesce({workspace}, '') as ws, {holds} as holds {due}
         )
         select ws,
                count(*) filter (where cardinality(holds) = 0)::int8 as purgeable,
                count(*) filter (where cardinality(holds) > 0)::int8 as held,
                coalesce((select array_agg(distinct h order by h)
                          from due d2, unnest(d2.holds) h where d2.ws = due.ws), '{{}}') as hold_ids
         from due group by ws order by ws",
        workspace = plan.locate.workspace,
        holds = holds_of(plan),
        due = due_rows(plan),
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seconds(plan.expired.active))
        .bind(seconds(plan.expired.closed))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DueCount {
                table: plan.entry.table,
                category: plan.entry.category,
                workspace_id: row.try_get("ws")?,
                purgeable: row.try_get("purgeable")?,
                held: row.try_get("held")?,
                hold_ids: row.try_get("hold_ids")?,
            })
        })
        .collect()
}

async fn set_timeout(conn: &mut PgConnection, timeout: Duration) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "set local statement_timeout = {}",
        timeout.as_millis().max(1)
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// Purges `plan` to the end for sweep run `run_id`, batch by batch, each batch's counts
/// committed with it; then records what stayed held. Returns rows deleted.
pub async fn purge(
    pool: &PgPool,
    run_id: uuid::Uuid,
    plan: &Plan,
    settings: &PurgeSettings,
) -> Result<i64, PurgeError> {
    let table = plan.entry.table;
    let mut total = 0;
    loop {
        let started = Instant::now();
        let mut tx = pool.begin().await?;
        set_timeout(&mut tx, settings.statement_timeout).await?;
        let deleted = purge_batch(&mut tx, plan, settings.batch)
            .await
            .map_err(|cause| PurgeError::HoldCheck { table, cause })?;
        let millis = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let in_batch: i64 = deleted.iter().map(|(_, n)| n).sum();
        if in_batch == 0 {
            store::sweeps::add_time(&mut tx, run_id, table, millis).await?;
            tx.commit().await?;
            break;
        }
        for (workspace, n) in &deleted {
            store::sweeps::add_deleted(&mut tx, run_id, table, workspace, *n, millis).await?;
        }
        tx.commit().await?;
        METRICS.add(
            Counter::RetentionPurged,
            &[("table", table)],
            u64::try_from(in_batch).unwrap_or(0),
        );
        total += in_batch;
        if in_batch < settings.batch {
            break;
        }
    }
    let mut tx = pool.begin().await?;
    set_timeout(&mut tx, settings.statement_timeout * 4).await?;
    let due = count_due(&mut tx, plan)
        .await
        .map_err(|cause| PurgeError::HoldCheck { table, cause })?;
    store::sweeps::set_held(&mut tx, run_id, table, &due).await?;
    tx.commit().await?;
    Ok(total)
}
