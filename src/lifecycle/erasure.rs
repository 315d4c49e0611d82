//! The erasure engine: `erase(subject, categories)` and `export(subject, categories)`,
//! driven by the data map. A subject is a business (a workspace) or a customer (a
//! `wa_id`, optionally within one workspace). For each mapped table that can hold the
//! subject's records, erasure does what the map says (delete the rows, or anonymise the
//! named columns), in bounded batches of short transactions, never to a record under a
//! legal hold, and only to settled records (finished runs, processed deliveries, a closed
//! workspace); each table answers with a receipt: rows deleted or anonymised, rows held
//! (with the holds' ids), rows not yet settled, or why the table is kept. The audit ledger
//! records the erasure with its receipts and without the subject's number.
//!
//! Tables are taken in reverse map order, so a run's steps, attempts, events, decisions
//! and history are anonymised while the run's input still says whom they are about, and
//! a workspace's own row last.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::data_map::{Category, Erasure, Locate, SubjectKey, TABLES, TableEntry};
use super::purge::{PurgeError, PurgeSettings, begin_batch, holds_expr};
use crate::security::audit::{self, AuditEntry};

/// Whose records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A business account: everything of its workspace.
    Workspace(String),
    /// A customer by `wa_id`, in one workspace or in all.
    Customer {
        /// Only this workspace's records (`None`: every workspace's).
        workspace_id: Option<String>,
        /// The customer's WhatsApp id.
        wa_id: String,
    },
}

impl Subject {
    fn kind(&self) -> &'static str {
        match self {
            Subject::Workspace(_) => "workspace",
            Subject::Customer { .. } => "customer",
        }
    }

    fn workspace(&self) -> Option<&str> {
        match self {
            Subject::Workspace(id) => Some(id),
            Subject::Customer { workspace_id, .. } => workspace_id.as_deref(),
        }
    }

    fn wa_id(&self) -> Option<&str> {
        match self {
            Subject::Workspace(_) => None,
            Subject::Customer { wa_id, .. } => Some(wa_id),
        }
    }

    /// Whether `entry` can hold this subject's records.
    fn found_in(&self, entry: &TableEntry) -> bool {
        entry.subject_keys.iter().any(|key| {
            matches!(
                (self, key),
                (
                    Subject::Workspace(_),
                    SubjectKey::Workspace(_) | SubjectKey::Run(_)
                ) | (
                    Subject::Customer { .. },
                    SubjectKey::Customer(_) | SubjectKey::Run(_)
                )
            )
        })
    }
}

/// What erasure or export did to one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// Table.
    pub table: &'static str,
    /// Its category.
    pub category: Category,
    /// `delete`, `anonymise`, `export` or `keep`.
    pub action: &'static str,
    /// Rows deleted, anonymised or exported.
    pub rows: i64,
    /// The subject's rows left alone because a hold covers them.
    pub held: i64,
    /// The holds.
    pub hold_ids: Vec<Uuid>,
    /// The subject's rows not settled yet (a run under way, a delivery not processed),
    /// left alone.
    pub unsettled: i64,
    /// Why the table is kept (`keep`).
    pub basis: Option<&'static str>,
}

impl Receipt {
    /// The receipt as JSON.
    pub fn json(&self) -> Value {
        json!({
            "table": self.table, "category": self.category.as_str(), "action": self.action,
            "rows": self.rows, "held": self.held, "hold_ids": self.hold_ids,
            "unsettled": self.unsettled,
        })
    }
}

/// The tables erasure or export visits for `subject`, in erasure order.
fn tables_for<'a>(
    subject: &'a Subject,
    categories: Option<&'a [Category]>,
) -> impl Iterator<Item = &'static TableEntry> + 'a {
    TABLES.iter().rev().filter(move |entry| {
        subject.found_in(entry) && categories.is_none_or(|wanted| wanted.contains(&entry.category))
    })
}

/// The condition that a row of `locate` is the subject's (binds `$1` workspace, `$2`
/// `wa_id`).
fn belongs(subject: &Subject, locate: &Locate) -> String {
    let Locate {
        workspace,
        customers,
        mentions,
        ..
    } = locate;
    match subject {
        Subject::Workspace(_) => format!("{workspace} = $1::text"),
        Subject::Customer { .. } => format!(
            "({customers} && array[$2::text]
              or strpos(coalesce({mentions}, ''), $2::text) > 0)
             and ($1::text is null or {workspace} = $1::text)"
        ),
    }
}

/// What an anonymised column becomes: null where it may be, else an empty value.
async fn replacements(
    conn: &mut PgConnection,
    table: &str,
    columns: &[&str],
) -> sqlx::Result<Vec<(String, String)>> {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    let mut out = Vec::new();
    for column in columns {
        let row = sqlx::query(
            "select data_type, is_nullable from information_schema.columns
             where table_schema = $1 and table_name = $2 and column_name = $3",
        )
        .bind(schema)
        .bind(name)
        .bind(column)
        .fetch_one(&mut *conn)
        .await?;
        let (kind, nullable): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let value = match (nullable.as_str(), kind.as_str()) {
            ("YES", _) => "null",
            (_, "jsonb") => "'{}'::jsonb",
            (_, "bytea") => "'\\x'::bytea",
            _ => "'erased'",
        };
        out.push(((*column).to_owned(), value.to_owned()));
    }
    Ok(out)
}

fn binds<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    subject: &'q Subject,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query.bind(subject.workspace()).bind(subject.wa_id())
}

/// Counts the subject's rows of `entry` still to do that are held (with the holds) and
/// not settled.
async fn leftovers(
    conn: &mut PgConnection,
    subject: &Subject,
    entry: &TableEntry,
    locate: &Locate,
    pending: &str,
) -> sqlx::Result<(i64, Vec<Uuid>, i64)> {
    let sql = format!(
        "with mine as (
             select ({only}) as settled, {holds} as holds
             from {table} t where {belongs} and ({pending})
         )
         select count(*) filter (where settled and cardinality(holds) > 0)::int8,
                coalesce((select array_agg(distinct h order by h)
                          from mine m, unnest(m.holds) h where m.settled), '{{}}'),
                count(*) filter (where not settled)::int8
         from mine",
        only = locate.only,
        holds = holds_expr(entry, locate, entry.retention_from),
        table = entry.table,
        belongs = belongs(subject, locate),
    );
    let row = binds(sqlx::query(sqlx::AssertSqlSafe(sql)), subject)
        .fetch_one(conn)
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

/// Erases one table's share of the subject's records.
async fn erase_table(
    pool: &PgPool,
    subject: &Subject,
    entry: &'static TableEntry,
    locate: &Locate,
    settings: &PurgeSettings,
    tally: Option<&str>,
) -> Result<Receipt, PurgeError> {
    let table = entry.table;
    let fail = |cause| PurgeError::HoldCheck { table, cause };
    let mut conn = pool.acquire().await?;
    let (action, set, pending) = match entry.erasure {
        Erasure::Delete => ("delete", None, "true".to_owned()),
        Erasure::Anonymise(columns) | Erasure::DestroyKey(columns) => {
            let values = replacements(&mut conn, table, columns).await?;
            let set = values
                .iter()
                .map(|(column, value)| format!("{column} = {value}"))
                .collect::<Vec<_>>()
                .join(", ");
            let pending = values
                .iter()
                .map(|(column, value)| format!("t.{column} is distinct from {value}"))
                .collect::<Vec<_>>()
                .join(" or ");
            ("anonymise", Some(set), pending)
        }
        Erasure::Keep(_) => unreachable!("kept tables are receipted without a visit"),
    };
    drop(conn);
    let chosen = format!(
        "select t.ctid as tid from {table} t
         where ({only}) and {belongs} and ({pending}) and cardinality({holds}) = 0
         limit $3 for update of t skip locked",
        only = locate.only,
        belongs = belongs(subject, locate),
        holds = holds_expr(entry, locate, entry.retention_from),
    );
    let sql = match &set {
        None => format!(
            "with chosen as ({chosen}) delete from {table} t
             where t.ctid = any (array(select tid from chosen))"
        ),
        Some(set) => format!(
            "with chosen as ({chosen}) update {table} t set {set}
             where t.ctid = any (array(select tid from chosen))"
        ),
    };
    let mut rows = match tally {
        Some(tally) => {
            let mut conn = pool.acquire().await?;
            super::store::tallies::get(&mut conn, tally, table).await?
        }
        None => 0,
    };
    loop {
        let mut tx = begin_batch(pool, table, settings).await?;
        let done = binds(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), subject)
            .bind(settings.batch)
            .execute(&mut *tx)
            .await
            .map_err(fail)?
            .rows_affected();
        let changed = i64::try_from(done).unwrap_or(i64::MAX);
        if let Some(tally) = tally {
            rows = super::store::tallies::add(&mut tx, tally, table, changed).await?;
        } else {
            rows += changed;
        }
        tx.commit().await?;
        if done < u64::try_from(settings.batch).unwrap_or(u64::MAX) {
            break;
        }
    }
    let mut conn = pool.acquire().await?;
    let (held, hold_ids, unsettled) = leftovers(&mut conn, subject, entry, locate, &pending)
        .await
        .map_err(fail)?;
    Ok(Receipt {
        table,
        category: entry.category,
        action,
        rows,
        held,
        hold_ids,
        unsettled,
        basis: None,
    })
}

fn kept(entry: &'static TableEntry, basis: &'static str) -> Receipt {
    Receipt {
        table: entry.table,
        category: entry.category,
        action: "keep",
        rows: 0,
        held: 0,
        hold_ids: Vec::new(),
        unsettled: 0,
        basis: Some(basis),
    }
}

/// Erases the subject's records in `categories` (`None`: every category), as the data map
/// says, never a held or unsettled one; records the erasure in the audit ledger under
/// `actor`; answers a receipt per table.
pub async fn erase(
    pool: &PgPool,
    subject: &Subject,
    categories: Option<&[Category]>,
    actor: &str,
    settings: &PurgeSettings,
) -> Result<Vec<Receipt>, PurgeError> {
    erase_tallied(pool, subject, categories, actor, settings, None).await
}

/// Like [`erase`], counting what each batch changes under `tally` in the batch's own
/// transaction: run again after a crash with the same tally, the receipts count every
/// row the erasure changed, in either run, once.
pub async fn erase_tallied(
    pool: &PgPool,
    subject: &Subject,
    categories: Option<&[Category]>,
    actor: &str,
    settings: &PurgeSettings,
    tally: Option<&str>,
) -> Result<Vec<Receipt>, PurgeError> {
    let mut receipts = Vec::new();
    for entry in tables_for(subject, categories) {
        let receipt = match (entry.erasure, entry.locate) {
            (Erasure::Keep(basis), _) => kept(entry, basis),
            (_, None) => kept(entry, "its records name no business or customer"),
            (_, Some(locate)) => {
                erase_table(pool, subject, entry, &locate, settings, tally).await?
            }
        };
        receipts.push(receipt);
    }
    let mut tx = pool.begin().await?;
    let entry = AuditEntry::now(
        actor,
        "subject.erased",
        format!("erasure:{}", Uuid::now_v7()),
        subject.workspace(),
        json!({
            "subject": subject.kind(),
            "categories": categories.map(|list| list.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
            "receipts": receipts.iter().filter(|r| r.action != "keep").map(Receipt::json).collect::<Vec<_>>(),
        }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(receipts)
}

/// One table's records of a subject, as JSON objects (one per row).
#[derive(Debug, Clone)]
pub struct ExportPart {
    /// What was exported.
    pub receipt: Receipt,
    /// The rows.
    pub rows: Vec<Value>,
}

/// A row without its sealed values (tokens, codes): an export never carries a secret.
fn without_sealed(mut row: Value) -> Value {
    if let Value::Object(map) = &mut row {
        map.retain(|key, _| !key.ends_with("_sealed"));
    }
    row
}

/// Rows exported per table at most (an export larger than this says so in its receipt).
pub const EXPORT_LIMIT: i64 = 100_000;

/// The subject's records in `categories` (`None`: every category), table by table.
pub async fn export(
    pool: &PgPool,
    subject: &Subject,
    categories: Option<&[Category]>,
) -> sqlx::Result<Vec<ExportPart>> {
    export_between(pool, subject, categories, (None, None)).await
}

/// Like [`export`], only records timed (by the column retention counts from) within
/// `[from, to]`; a workspace's configuration is current state and always included.
pub async fn export_between(
    pool: &PgPool,
    subject: &Subject,
    categories: Option<&[Category]>,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> sqlx::Result<Vec<ExportPart>> {
    let mut conn = pool.acquire().await?;
    let mut parts = Vec::new();
    for entry in tables_for(subject, categories) {
        let Some(locate) = entry.locate else {
            continue;
        };
        // A workspace's configuration is who the business is now, whenever it changed.
        let time = entry
            .retention_from
            .filter(|_| entry.category != Category::WorkspaceConfig);
        let timed = time.map_or_else(String::new, |column| {
            format!(
                " and ($4::timestamptz is null or t.{column} >= $4)
                  and ($5::timestamptz is null or t.{column} <= $5)"
            )
        });
        let sql = format!(
            "select to_jsonb(t) from {table} t where {belongs}{timed} limit $3",
            table = entry.table,
            belongs = belongs(subject, &locate),
        );
        let rows: Vec<Value> = binds(sqlx::query(sqlx::AssertSqlSafe(sql)), subject)
            .bind(EXPORT_LIMIT)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get(0).map(without_sealed))
            .collect::<sqlx::Result<_>>()?;
        if rows.is_empty() {
            continue;
        }
        parts.push(ExportPart {
            receipt: Receipt {
                table: entry.table,
                category: entry.category,
                action: "export",
                rows: i64::try_from(rows.len()).unwrap_or(i64::MAX),
                held: 0,
                hold_ids: Vec::new(),
                unsettled: 0,
                basis: None,
            },
            rows,
        });
    }
    Ok(parts)
}
