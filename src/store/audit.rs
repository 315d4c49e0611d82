//! The `audit_ledger` table. Chaining happens in the database function `audit_append`,
//! under the head row's lock; the canonical bytes come from [`crate::security::audit`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::security::audit::AuditEntry;

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
}

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
        }
    }
}

/// Appends entries in order (one statement).
pub async fn append(conn: &mut PgConnection, entries: &[AuditEntry]) -> sqlx::Result<()> {
    let at: Vec<DateTime<Utc>> = entries.iter().map(|e| e.at).collect();
    let actor: Vec<String> = entries.iter().map(|e| e.actor.clone()).collect();
    let action: Vec<String> = entries.iter().map(|e| e.action.clone()).collect();
    let subject: Vec<String> = entries.iter().map(|e| e.subject.clone()).collect();
    let workspace: Vec<Option<String>> = entries.iter().map(|e| e.workspace_id.clone()).collect();
    let data: Vec<Value> = entries.iter().map(|e| e.data.clone()).collect();
    let canonical: Vec<Vec<u8>> = entries.iter().map(AuditEntry::canonical).collect();
    sqlx::query!(
        "select audit_append($1, $2, $3, $4, $5, $6, $7)",
        &at,
        &actor,
        &action,
        &subject,
        &workspace as &[Option<String>],
        &data,
        &canonical
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Entries after `after_seq`, in order, for verification.
pub async fn page_for_verify(
    conn: &mut PgConnection,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<LedgerRow>> {
    let rows = sqlx::query_as!(
        RawRow,
        "select seq, at, actor, action, subject, workspace_id, data, prev_hash, hash
         from audit_ledger where seq > $1 order by seq limit $2",
        after_seq,
        limit
    )
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

/// Entries matching the filter, newest first.
pub async fn list(conn: &mut PgConnection, filter: &LedgerFilter) -> sqlx::Result<Vec<LedgerRow>> {
    let rows = sqlx::query_as!(
        RawRow,
        "select seq, at, actor, action, subject, workspace_id, data, prev_hash, hash
         from audit_ledger
         where ($1::text is null or subject = $1)
           and ($2::text is null or actor = $2)
           and ($3::text is null or action = $3)
           and ($4::text is null or workspace_id = $4)
           and ($5::timestamptz is null or at >= $5)
           and ($6::timestamptz is null or at < $6)
           and ($7::bigint is null or seq < $7)
         order by seq desc
         limit $8",
        filter.subject,
        filter.actor,
        filter.action,
        filter.workspace_id,
        filter.since,
        filter.until,
        filter.before,
        filter.limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(LedgerRow::from).collect())
}
