//! The audit ledger: every change of consequence, chained so that any later edit shows.
//!
//! Entry `n` stores `hash = SHA-256(prev_hash || canonical JSON of the entry)` where
//! `prev_hash` is entry `n-1`'s hash (32 zero bytes for the first). The canonical JSON is
//! `{"action","actor","at","data","subject","workspace_id"}` with object keys sorted at
//! every depth, no insignificant whitespace, and `at` as RFC 3339 UTC with microseconds.
//!
//! Entries are inserted in the transaction of the change they record, unchained, so
//! changes never queue on the chain. [`chain_pending`] then links every committed
//! unchained entry (a row of its own in `audit_chain`; the entry itself is never written
//! again) in one transaction holding the head row's lock: one chainer at a time, so the
//! chain cannot fork. Each process runs [`run_chainer`], which does this
//! every 200 ms; readers of the ledger call [`chain_pending`] first, so they never miss a
//! committed entry.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::future::Future;

use sqlx::{PgConnection, PgPool};

use crate::store;

/// Hash before the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

pub use crate::store::audit::{AuditEntry, LedgerFilter, LedgerRow};

use super::{Caller, ListScope};

impl AuditEntry {
    /// The bytes that are hashed.
    pub fn canonical(&self) -> Vec<u8> {
        let value = json!({
            "action": self.action,
            "actor": self.actor,
            "at": self.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "data": self.data,
            "subject": self.subject,
            "workspace_id": self.workspace_id,
        });
        let mut out = String::new();
        write_canonical(&value, &mut out);
        out.into_bytes()
    }
}

/// Link format 1 (links written before format 2): `SHA-256(prev || canonical)`.
pub fn link_hash(prev: &[u8], canonical: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(canonical);
    hasher.finalize().to_vec()
}

/// The link format new links are written in.
pub const LINK_FORMAT: i16 = 2;

/// An entry's digest: `SHA-256(canonical)`.
pub fn entry_digest(entry: &AuditEntry) -> Vec<u8> {
    Sha256::digest(entry.canonical()).to_vec()
}

/// The hash of a link of format `format` after `prev`, from the entry's canonical form
/// (format 1) or its digest (format 2: `SHA-256(prev || SHA-256(canonical))`, so a stretch
/// of the chain can be checked from digests alone, docs/EVIDENCE.md). `None`: unknown
/// format.
pub fn link_of(format: i16, prev: &[u8], entry: LinkInput<'_>) -> Option<Vec<u8>> {
    match (format, entry) {
        (1, LinkInput::Entry(entry)) => Some(link_hash(prev, &entry.canonical())),
        (2, LinkInput::Entry(entry)) => Some(link_hash(prev, &entry_digest(entry))),
        (2, LinkInput::Digest(digest)) => Some(link_hash(prev, digest)),
        _ => None,
    }
}

/// What a link is computed from: the entry, or (format 2 only) its digest.
#[derive(Debug, Clone, Copy)]
pub enum LinkInput<'a> {
    /// The whole entry.
    Entry(&'a AuditEntry),
    /// `SHA-256(canonical)` of the entry.
    Digest(&'a [u8]),
}

/// Appends entries, in order, in the caller's transaction; they are chained after it
/// commits.
pub async fn append(conn: &mut PgConnection, entries: &[AuditEntry]) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    store::audit::insert(conn, entries).await
}

/// Entries linked per chaining transaction.
const CHAIN_BATCH: i64 = 5_000;

/// Links every committed unchained entry to the chain; returns how many were linked.
pub async fn chain_pending(pool: &PgPool) -> sqlx::Result<u64> {
    let mut linked = 0;
    loop {
        let mut tx = pool.begin().await?;
        let (mut seq, mut prev) = store::audit::lock_head(&mut tx).await?;
        let pending = store::audit::unchained(&mut tx, CHAIN_BATCH).await?;
        if pending.is_empty() {
            tx.commit().await?;
            return Ok(linked);
        }
        let mut links = Vec::with_capacity(pending.len());
        for row in &pending {
            seq += 1;
            let hash = link_hash(&prev, &entry_digest(&row.entry));
            links.push((
                row.id,
                seq,
                std::mem::replace(&mut prev, hash.clone()),
                hash,
            ));
        }
        store::audit::chain(&mut tx, &links).await?;
        tx.commit().await?;
        linked += links.len() as u64;
    }
}

/// How often each process links entries committed since the last pass.
const CHAIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Links entries to the chain every [`CHAIN_INTERVAL`] until `shutdown` resolves, then
/// once more.
pub async fn run_chainer(pool: PgPool, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(CHAIN_INTERVAL) => {}
        }
        if let Err(error) = chain_pending(&pool).await {
            tracing::warn!(error = %error, "chaining audit entries failed; will retry");
        }
    }
    if let Err(error) = chain_pending(&pool).await {
        tracing::warn!(error = %error, "chaining audit entries at shutdown failed");
    }
}

/// Entries the caller may see (a confined key: its workspace's), newest first, after
/// linking every committed entry so none is missed.
pub async fn list(
    pool: &PgPool,
    caller: &Caller,
    mut filter: LedgerFilter,
) -> sqlx::Result<Vec<LedgerRow>> {
    chain_pending(pool).await?;
    filter.workspace_id = match caller.list_scope(None) {
        ListScope::All => None,
        ListScope::Workspace(id) => Some(id),
        ListScope::Nothing => return Ok(vec![]),
    };
    let mut conn = pool.acquire().await?;
    store::audit::list(&mut conn, &filter).await
}

/// The chain's end (`seq`, hash) after linking every committed entry.
pub async fn head(pool: &PgPool) -> sqlx::Result<(i64, Vec<u8>)> {
    chain_pending(pool).await?;
    let mut conn = pool.acquire().await?;
    store::audit::head(&mut conn).await
}

/// Why a key confined to one workspace may not read the chain's head.
pub const HEAD_CONFINED: &str = "the chain's head counts every workspace's entries; a key \
     confined to one workspace cannot read it";

/// What a key confined to one workspace is told when the ledger does not hold.
pub const BROKEN_CONFINED: &str =
    "the ledger does not hold; an auditor of every workspace can see where";

/// The head for a caller who may read it: `None` for a key confined to one workspace
/// (the head counts every workspace's entries).
pub async fn visible_head(pool: &PgPool, caller: &Caller) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
    if caller.workspace_id.is_some() {
        return Ok(None);
    }
    head(pool).await.map(Some)
}

/// Whether the ledger holds, and, for a key that sees every workspace, where it does not
/// (a confined key learns only intact or not: the details name other workspaces' entries).
pub async fn visible_verification(
    pool: &PgPool,
    caller: &Caller,
) -> sqlx::Result<(bool, Option<Verification>)> {
    let verification = verify_all(pool).await?;
    let intact = verification.intact();
    Ok((
        intact,
        caller.workspace_id.is_none().then_some(verification),
    ))
}

/// How long a committed entry may wait to be chained before verification calls the
/// ledger broken: the chainer links every 200 ms, and every read chains first.
pub const PENDING_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// Verifies the whole chain after linking every committed entry, and that every entry of
/// the ledger is in it or waiting (for less than [`PENDING_BOUND`]) to be.
pub async fn verify_all(pool: &PgPool) -> sqlx::Result<Verification> {
    chain_pending(pool).await?;
    let mut conn = pool.acquire().await?;
    let mut verification = verify(&mut conn).await?;
    (verification.unchained, verification.first_unchained_id) =
        store::audit::unaccounted(&mut conn).await?;
    let (pending, oldest) = store::audit::pending(&mut conn).await?;
    verification.pending = pending;
    verification.stale_pending = oldest.is_some_and(|at| {
        chrono::Utc::now() - at > chrono::Duration::from_std(PENDING_BOUND).unwrap_or_default()
    });
    Ok(verification)
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verification {
    /// Entries checked.
    pub checked: i64,
    /// The first entry whose link does not hold, and why.
    pub first_broken: Option<BrokenLink>,
    /// Entries in the ledger that are neither chained nor waiting to be (hidden from
    /// every reader, which reads the chain).
    pub unchained: i64,
    /// The ledger id of the first such entry.
    pub first_unchained_id: Option<i64>,
    /// Entries waiting to be chained.
    pub pending: i64,
    /// Whether one has waited longer than [`PENDING_BOUND`].
    pub stale_pending: bool,
}

impl Verification {
    /// Whether the ledger holds: every link, every entry accounted for, none stuck.
    pub fn intact(&self) -> bool {
        self.first_broken.is_none() && self.unchained == 0 && !self.stale_pending
    }

    /// Why it does not hold, in words.
    pub fn problem(&self) -> Option<String> {
        if let Some(broken) = &self.first_broken {
            return Some(broken.reason.clone());
        }
        if self.unchained > 0 {
            return Some(format!(
                "{} ledger entries are neither chained nor waiting to be (the first has id {}): \
                 they were removed from the pending queue behind the ledger's back",
                self.unchained,
                self.first_unchained_id.unwrap_or_default()
            ));
        }
        self.stale_pending.then(|| {
            format!(
                "{} entries wait to be chained, one for longer than {} s: the chainer cannot link them",
                self.pending,
                PENDING_BOUND.as_secs()
            )
        })
    }
}

/// A link that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// Sequence number of the entry.
    pub seq: i64,
    /// What does not match.
    pub reason: String,
}

/// Entries read per round trip while verifying.
const VERIFY_PAGE: i64 = 2_000;

/// Recomputes the whole chain from the first entry and reports the first broken link
/// (call [`chain_pending`] first to include the latest entries).
pub async fn verify(conn: &mut PgConnection) -> sqlx::Result<Verification> {
    let mut prev = GENESIS_HASH.to_vec();
    let mut expected_seq = 1;
    let mut checked = 0;
    loop {
        let page = store::audit::page_for_verify(conn, expected_seq - 1, VERIFY_PAGE).await?;
        if page.is_empty() {
            return Ok(Verification {
                checked,
                ..Verification::default()
            });
        }
        for row in page {
            let broken = |reason: String| {
                Ok(Verification {
                    checked,
                    first_broken: Some(BrokenLink {
                        seq: row.seq,
                        reason,
                    }),
                    ..Verification::default()
                })
            };
            if row.seq != expected_seq {
                return broken(format!(
                    "expected entry {expected_seq} next, found {}: entries are missing",
                    row.seq
                ));
            }
            if row.prev_hash != prev {
                return broken("prev_hash is not the previous entry's hash".to_owned());
            }
            if link_of(row.link, &prev, LinkInput::Entry(&row.entry)).as_deref()
                != Some(row.hash.as_slice())
            {
                return broken("the entry's content does not match its hash".to_owned());
            }
            prev = row.hash;
            expected_seq += 1;
            checked += 1;
        }
    }
}

/// `value` as canonical JSON: sorted keys at every depth, no whitespace (what the chain
/// and the evidence digests hash).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Writes `value` as canonical JSON: sorted keys at every depth, no whitespace.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let mut out = String::new();
        write_canonical(
            &json!({"b": 1, "a": {"d": [2, {"z": 0, "y": "<x>"}], "c": null}}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":{"c":null,"d":[2,{"y":"<x>","z":0}]},"b":1}"#);
    }

    #[test]
    fn any_change_to_an_entry_changes_its_hash() {
        let entry = AuditEntry::now("alice", "run.started", "run:1", Some("ws"), json!({"k": 1}));
        let hash = link_hash(&GENESIS_HASH, &entry.canonical());
        let mut changed = entry.clone();
        changed.actor = "mallory".into();
        assert_ne!(hash, link_hash(&GENESIS_HASH, &changed.canonical()));
        let mut changed = entry.clone();
        changed.data = json!({"k": 2});
        assert_ne!(hash, link_hash(&GENESIS_HASH, &changed.canonical()));
        assert_ne!(hash, link_hash(&[1; 32], &entry.canonical()));
    }
}
