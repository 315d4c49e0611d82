//! The purge engine: deletes a table's records that a selector picks, in bounded
//! batches of short transactions, never a record under a legal hold. Driven by the data
//! map: each swept table's [`Locate`] says how its records' workspace, customers and time
//! are found. A batch is a run of heap pages (so each record is visited once per purge,
//! however many stay held, and no batch re-reads what earlier ones deleted). Each batch
//! takes a share lock on `legal_holds` (a hold being placed waits for it), asks whether
//! any active hold could cover the category at all and, if one could, checks every
//! record with `legal_holds_covering` in the statement that deletes; if the check cannot
//! be evaluated (an error, or the statement timeout), the batch rolls back and nothing of
//! it is deleted: the purge fails closed, naming the reason.
//!
//! Counts are written in the batch's own transaction ([`store::sweeps`]), so a purge
//! resumed after a crash never counts a row twice; concurrent purges lock their batches
//! (`for update skip locked`), so no batch is deleted twice.

use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};

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
    /// After each batch the purge rests this many times the batch's duration, leaving
    /// the database to live traffic between batches (0: no rest).
    pub rest: f64,
}

impl Default for PurgeSettings {
    fn default() -> Self {
        Self {
            batch: 5_000,
            statement_timeout: Duration::from_secs(30),
            // Measured (docs/BENCHMARKS.md, (j)): resting three times a batch's duration
            // keeps live webhook acks within 20 ms p99 while purging ~75,000 rows/s.
            rest: 3.0,
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

/// Deletes `plan`'s due, unheld records in heap pages `[first, end)`; returns
/// (workspace, rows) deleted. `holds_possible`: some active hold could cover the
/// category, so each record is checked against the holds (otherwise none can be held).
async fn purge_batch(
    conn: &mut PgConnection,
    plan: &Plan,
    (first, end): (i64, i64),
    holds_possible: bool,
) -> sqlx::Result<Vec<(String, i64)>> {
    let unheld = if holds_possible {
        format!("and cardinality({}) = 0", holds_of(plan))
    } else {
        String::new()
    };
    let sql = format!(
        "with doomed as (
             select t.ctid as tid {due}
               and t.ctid >= $3::tid and t.ctid < $4::tid
               {unheld}
             for update of t skip locked
         ), gone as (
             delete from {table} t where t.ctid = any (array(select tid from doomed))
             returning {workspace} as ws
         )
         select coalesce(ws, '') as ws, count(*)::int8 as n from gone group by 1",
        due = due_rows(plan),
        table = plan.entry.table,
        workspace = plan.locate.workspace,
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seconds(plan.expired.active))
        .bind(seconds(plan.expired.closed))
        .bind(format!("({first},0)"))
        .bind(format!("({end},0)"))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("ws")?, row.try_get("n")?)))
        .collect()
}

/// The first and last heap page holding one of `plan`'s due records (`None`: none is
/// due). Tables are appended to in time order, so due records lie mostly at the front.
async fn due_pages(conn: &mut PgConnection, plan: &Plan) -> sqlx::Result<Option<(i64, i64)>> {
    let sql = format!(
        "select (min(t.ctid)::text::point)[0]::int8 as first,
                (max(t.ctid)::text::point)[0]::int8 as last {due}",
        due = due_rows(plan)
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seconds(plan.expired.active))
        .bind(seconds(plan.expired.closed))
        .fetch_one(conn)
        .await?;
    Ok(row
        .try_get::<Option<i64>, _>("first")?
        .zip(row.try_get::<Option<i64>, _>("last")?))
}

/// Heap pages that hold about `batch` records of `table`, by the planner's statistics
/// (at least one page; 50 records a page when the table was never analysed).
async fn pages_per_batch(conn: &mut PgConnection, table: &str, batch: i64) -> sqlx::Result<i64> {
    let per_page: f64 = sqlx::query_scalar(
        "select coalesce(nullif(reltuples, -1)::float8 / nullif(relpages, 0), 50)
         from pg_class where oid = $1::regclass",
    )
    .bind(table)
    .fetch_one(conn)
    .await?;
    Ok(((batch as f64 / per_page.max(1.0)).ceil() as i64).max(1))
}

/// Whether any active hold could cover records of `category` (whatever its scope): when
/// none can, a batch deletes without checking each record.
async fn holds_possible(conn: &mut PgConnection, category: Category) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from legal_holds h
                        where h.status = 'active'
                          and (h.expires_at is null or h.expires_at > now())
                          and (h.categories is null or $1 = any (h.categories)))",
    )
    .bind(category.as_str())
    .fetch_one(conn)
    .await
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

/// Opens one batch's transaction: its statement timeout, then a share lock on
/// `legal_holds`, so no hold is placed, renewed or released between the batch's hold check
/// and its commit (placing a hold waits for the batch: one short transaction). Failing to
/// take the lock in time is a hold check that could not be evaluated.
pub(super) async fn begin_batch(
    pool: &PgPool,
    table: &'static str,
    settings: &PurgeSettings,
) -> Result<Transaction<'static, Postgres>, PurgeError> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "set local statement_timeout = {}",
        settings.statement_timeout.as_millis().max(1)
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query("lock table legal_holds in share mode")
        .execute(&mut *tx)
        .await
        .map_err(|cause| PurgeError::HoldCheck { table, cause })?;
    Ok(tx)
}

/// Rests after a batch begun at `started`, for `settings.rest` times its duration.
async fn rest(settings: &PurgeSettings, started: Instant) {
    if settings.rest > 0.0 {
        tokio::time::sleep(started.elapsed().mul_f64(settings.rest)).await;
    }
}

/// Purges `plan` to the end for sweep run `run_id`, batch by batch (a run of heap pages
/// each, so every record is visited once however many stay held), each batch's counts
/// committed with it; then records what stayed held. Returns rows deleted.
pub async fn purge(
    pool: &PgPool,
    run_id: uuid::Uuid,
    plan: &Plan,
    settings: &PurgeSettings,
) -> Result<i64, PurgeError> {
    let table = plan.entry.table;
    let fail = |cause| PurgeError::HoldCheck { table, cause };
    let mut conn = pool.acquire().await?;
    let pages = due_pages(&mut conn, plan).await?;
    let step = pages_per_batch(&mut conn, table, settings.batch).await?;
    drop(conn);
    let mut total = 0;
    let mut idle = Duration::ZERO;
    let (mut page, last) = pages.unwrap_or((1, 0));
    while page <= last {
        let started = Instant::now();
        let mut tx = begin_batch(pool, table, settings).await?;
        let possible = holds_possible(&mut tx, plan.entry.category)
            .await
            .map_err(fail)?;
        let deleted = purge_batch(&mut tx, plan, (page, page + step), possible)
            .await
            .map_err(fail)?;
        page += step;
        let in_batch: i64 = deleted.iter().map(|(_, n)| n).sum();
        if in_batch == 0 {
            tx.rollback().await?;
            rest(settings, started).await;
            idle += started.elapsed();
            continue;
        }
        let millis = i64::try_from((started.elapsed() + std::mem::take(&mut idle)).as_millis())
            .unwrap_or(i64::MAX);
        for (line, (workspace, n)) in deleted.iter().enumerate() {
            // A table's time is summed over its workspaces' lines: the batch's goes on one.
            let millis = if line == 0 { millis } else { 0 };
            store::sweeps::add_deleted(&mut tx, run_id, table, workspace, *n, millis).await?;
        }
        tx.commit().await?;
        METRICS.add(
            Counter::RetentionPurged,
            &[("table", table)],
            u64::try_from(in_batch).unwrap_or(0),
        );
        total += in_batch;
        rest(settings, started).await;
    }
    let mut tx = begin_batch(
        pool,
        table,
        &PurgeSettings {
            statement_timeout: settings.statement_timeout * 4,
            ..*settings
        },
    )
    .await?;
    let millis = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
    store::sweeps::add_time(&mut tx, run_id, table, millis).await?;
    let due = count_due(&mut tx, plan).await.map_err(fail)?;
    store::sweeps::set_held(&mut tx, run_id, table, &due).await?;
    tx.commit().await?;
    Ok(total)
}
