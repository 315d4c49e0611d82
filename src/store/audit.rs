//! The `audit_ledger` table, its chain (`audit_chain`) and the chain's head. Entries are
//! inserted unchained, listed in `audit_unchained`; the chainer
//! ([`crate::security::audit::chain_pending`]) links them: a seq and hashes in
//! `audit_chain`. A ledger row is never written twice.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// A ledger entry: what happened, to what, by whom. The chain's hashing of it lives in
/// [`crate::security::audit`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When (truncated to microseconds, the database's precision).
    pub at: DateTime<Utc>,
    /// The person's handle, or the service's own name (`engine`, `schedule:<name>`, `meta`,
    /// `bootstrap`, `cli`).
    pub actor: String,
    /// What happened, e.g. `run.started`, `key.created`, `decision.refused`.
    pub action: String,
    /// What it happened to, e.g. `run:<uuid>`, `key:<uuid>`.
    pub subject: String,
    /// Workspace of the subject.
    pub workspace_id: Option<String>,
    /// Details: ids, names of things, counts, never a secret or free text
    /// ([`ledger_safe`]).
    pub data: Value,
}

/// Keys whose values are free text people or systems wrote (a decision's or a cancel's
/// reason, a handler's error, an event's correlation value): they may hold a customer's
/// name or number, and the ledger can never erase what it holds.
pub const FREE_TEXT_KEYS: [&str; 3] = ["reason", "error", "correlation"];

/// The ledger's rule on what an entry may hold: ids, names of things, counts, instants,
/// never free text. Each string under a [`FREE_TEXT_KEYS`] key, at any depth, is replaced
/// by `{"redacted": true, "chars": n}`; the text itself stays in the record it belongs to
/// (the run's history, the workspace, the key), which erasure can reach.
pub fn ledger_safe(mut data: Value) -> Value {
    fn scrub(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if let Value::String(text) = item
                        && FREE_TEXT_KEYS.contains(&key.as_str())
                    {
                        *item =
                            serde_json::json!({ "redacted": true, "chars": text.chars().count() });
                    } else {
                        scrub(item);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    scrub(&mut data);
    data
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(
        actor: &str,
        action: impl Into<String>,
        subject: impl Into<String>,
        workspace_id: Option<&str>,
        data: Value,
    ) -> Self {
        Self {
            at: Utc::now().trunc_subsecs(6),
            actor: actor.to_owned(),
            action: action.into(),
            subject: subject.into(),
            workspace_id: workspace_id.map(str::to_owned),
            data: ledger_safe(data),
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// The entry.
    pub entry: AuditEntry,
    /// Previous entry's hash.
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    pub hash: Vec<u8>,
    /// The link's format (1 or 2, [`crate::security::audit::link_of`]).
    pub link: i16,
}

#[derive(sqlx::FromRow)]
struct RawRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    subject: String,
    workspace_id: Option<String>,
    data: Value,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    link: i16,
}

impl From<RawRow> for LedgerRow {
    fn from(row: RawRow) -> Self {
        Self {
            seq: row.seq,
            entry: AuditEntry {
                at: row.at,
                actor: row.actor,
                action: row.action,
                subject: row.subject,
                workspace_id: row.workspace_id,
                data: row.data,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
            link: row.link,
        }
    }
}

/// Inserts entries, unchained, in the caller's transaction (one statement). Statements
/// that write an entry alongside other rows (src/store/runs.rs) list it in
/// `audit_unchained` the same way.
pub async fn insert(conn: &mut PgConnection, entries: &[AuditEntry]) -> sqlx::Result<()> {
    let at: Vec<DateTime<Utc>> = entries.iter().map(|e| e.at).collect();
    let actor: Vec<String> = entries.iter().map(|e| e.actor.clone()).collect();
    let action: Vec<String> = entries.iter().map(|e| e.action.clone()).collect();
    let subject: Vec<String> = entries.iter().map(|e| e.subject.clone()).collect();
    let workspace: Vec<Option<String>> = entries.iter().map(|e| e.workspace_id.clone()).collect();
    let data: Vec<Value> = entries
        .iter()
        .map(|e| ledger_safe(e.data.clone()))
        .collect();
    sqlx::query!(
        "with appended as (
             insert into audit_ledger (at, actor, action, subject, workspace_id, data)
             select at, actor, action, subject, workspace_id, data
             from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                         $5::text[], $6::jsonb[])
             with ordinality as entry(at, actor, action, subject, workspace_id, data, n)
             order by n
             returning id
         )
         insert into audit_unchained (entry_id) select id from appended",
        &at,
        &actor,
        &action,
        &subject,
        &workspace as &[Option<String>],
        &data
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The chain's end, locked until the transaction ends: `(seq, hash)`.
pub async fn lock_head(conn: &mut PgConnection) -> sqlx::Result<(i64, Vec<u8>)> {
    let head = sqlx::query!("select seq, hash from audit_head for update")
        .fetch_one(conn)
        .await?;
    Ok((head.seq, head.hash))
}

/// The chain's end as last moved by a chainer, without locking: `(seq, hash)`.
pub async fn head(conn: &mut PgConnection) -> sqlx::Result<(i64, Vec<u8>)> {
    let head = sqlx::query!("select seq, hash from audit_head")
        .fetch_one(conn)
        .await?;
    Ok((head.seq, head.hash))
}

/// An entry waiting to be chained.
#[derive(Debug, Clone)]
pub struct UnchainedRow {
    /// Insertion id.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// Committed unchained entries in insertion order.
pub async fn unchained(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<UnchainedRow>> {
    let rows = sqlx::query!(
        // The ids first, then their entries by primary key: a join lets the planner,
        // pricing `audit_unchained` by statistics taken when it was empty, scan the whole
        // ledger to hash it.
        "select id, at, actor, action, subject, workspace_id, data from audit_ledger
         where id = any(array(select entry_id from audit_unchained order by entry_id
                              limit $1))
         order by id",
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| UnchainedRow {
            id: row.id,
            entry: AuditEntry {
                at: row.at,
                actor: row.actor,
                action: row.action,
                subject: row.subject,
                workspace_id: row.workspace_id,
                data: row.data,
            },
        })
        .collect())
}

/// Chains entries: `links` are `(entry id, seq, prev_hash, hash)`; they leave
/// `audit_unchained` and the head moves to the last.
pub async fn chain(
    conn: &mut PgConnection,
    links: &[(i64, i64, Vec<u8>, Vec<u8>)],
) -> sqlx::Result<()> {
    let Some((_, last_seq, _, last_hash)) = links.last() else {
        return Ok(());
    };
    let ids: Vec<i64> = links.iter().map(|link| link.0).collect();
    let seqs: Vec<i64> = links.iter().map(|link| link.1).collect();
    let prevs: Vec<Vec<u8>> = links.iter().map(|link| link.2.clone()).collect();
    let hashes: Vec<Vec<u8>> = links.iter().map(|link| link.3.clone()).collect();
    sqlx::query!(
        "insert into audit_chain (seq, entry_id, prev_hash, hash)
         select seq, entry_id, prev_hash, hash
         from unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])
              as x(entry_id, seq, prev_hash, hash)",
        &ids,
        &seqs,
        &prevs,
        &hashes,
    )
    .execute(&mut *conn)
    .await?;
    // A second statement: the queue's trigger lets an entry leave only once it is in the
    // chain, which the statement above must have written first.
    sqlx::query!(
        "with taken as (delete from audit_unchained where entry_id = any($1))
         update audit_head set seq = $2, hash = $3",
        &ids,
        last_seq,
        last_hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Ledger entries neither chained nor waiting to be: `(how many, the first one's id)`.
/// Only a change behind the ledger's back (its triggers disabled) can make one.
pub async fn unaccounted(conn: &mut PgConnection) -> sqlx::Result<(i64, Option<i64>)> {
    let row = sqlx::query!(
        r#"select count(*) as "count!", min(l.id) as first
           from audit_ledger l
           where not exists (select 1 from audit_chain c where c.entry_id = l.id)
             and not exists (select 1 from audit_unchained u where u.entry_id = l.id)"#
    )
    .fetch_one(conn)
    .await?;
    Ok((row.count, row.first))
}

/// Entries waiting to be chained: `(how many, when the oldest was written)`.
pub async fn pending(conn: &mut PgConnection) -> sqlx::Result<(i64, Option<DateTime<Utc>>)> {
    let row = sqlx::query!(
        r#"select count(*) as "count!", min(l.at) as oldest
           from audit_unchained u join audit_ledger l on l.id = u.entry_id"#
    )
    .fetch_one(conn)
    .await?;
    Ok((row.count, row.oldest))
}

/// Chained entries after `after_seq`, in chain order, for verification.
pub async fn page_for_verify(
    conn: &mut PgConnection,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<LedgerRow>> {
    let rows = sqlx::query_as::<_, RawRow>(
        "select c.seq, l.at, l.actor, l.action, l.subject, l.workspace_id, l.data,
                c.prev_hash, c.hash, c.link
         from audit_chain c join audit_ledger l on l.id = c.entry_id
         where c.seq > $1 order by c.seq limit $2",
    )
    .bind(after_seq)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(LedgerRow::from).collect())
}

/// Filters for listing the ledger; `before` is the cursor.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    /// Only this subject.
    pub subject: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this workspace (forced for workspace-scoped callers).
    pub workspace_id: Option<String>,
    /// Only entries at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before.
    pub until: Option<DateTime<Utc>>,
    /// Only entries with a smaller seq.
    pub before: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// Chained entries matching the filter, newest first.
pub async fn list(conn: &mut PgConnection, filter: &LedgerFilter) -> sqlx::Result<Vec<LedgerRow>> {
    let rows = sqlx::query_as::<_, RawRow>(
        "select c.seq, l.at, l.actor, l.action, l.subject, l.workspace_id, l.data,
                c.prev_hash, c.hash, c.link
         from audit_chain c join audit_ledger l on l.id = c.entry_id
         where ($1::text is null or subject = $1)
           and ($2::text is null or actor = $2)
           and ($3::text is null or action = $3)
           and ($4::text is null or workspace_id = $4)
           and ($5::timestamptz is null or at >= $5)
           and ($6::timestamptz is null or at < $6)
           and ($7::bigint is null or c.seq < $7)
         order by c.seq desc
         limit $8",
    )
    .bind(&filter.subject)
    .bind(&filter.actor)
    .bind(&filter.action)
    .bind(&filter.workspace_id)
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(LedgerRow::from).collect())
}

/// Chained entries about any of `subjects`, in chain order.
pub async fn by_subjects(
    conn: &mut PgConnection,
    subjects: &[String],
) -> sqlx::Result<Vec<LedgerRow>> {
    let rows = sqlx::query_as::<_, RawRow>(
        "select c.seq, l.at, l.actor, l.action, l.subject, l.workspace_id, l.data,
                c.prev_hash, c.hash, c.link
         from audit_chain c join audit_ledger l on l.id = c.entry_id
         where l.subject = any($1) order by c.seq",
    )
    .bind(subjects)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(LedgerRow::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_text_never_reaches_the_ledger_at_any_depth() {
        let data = ledger_safe(json!({
            "step_id": "review",
            "details": { "decision": "approve", "reason": "Ana Silva +49 151 2345678 agreed" },
            "then": [{ "kind": "step_failed", "details": { "error": "bad number 4915123" } }],
            "correlation": "4915123456789",
            "approvals": 1,
        }));
        let text = data.to_string();
        for secret in ["Ana", "2345678", "4915123"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(
            data["details"]["reason"],
            json!({ "redacted": true, "chars": 32 })
        );
        assert_eq!(data["details"]["decision"], "approve");
        assert_eq!(data["step_id"], "review");
        assert_eq!(data["approvals"], 1);
    }
}
