//! Assembling an evidence bundle: the request's record, timeline, decisions, scopes,
//! package manifest, receipts and notices as the domain gives them ([`Sources`]), and
//! its ledger entries (those of the request, its run and its holds) with every chain
//! link from the first of them to the head: the request's entries in full, the others as
//! digests (format 2 links) or in full (format 1). [`super::verify`] checks the result.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::FORMAT;
use super::timeline::{TimelineEvent, hashed_form};
use crate::engine::InputProblem;
use crate::security::audit::{self, entry_digest};
use crate::store::audit::{self as ledger, AuditEntry, LedgerRow};

/// What the domain contributes to a bundle.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `authority_request` or `privacy_request`.
    pub kind: &'static str,
    /// The request as stored (must carry `id`).
    pub record: Value,
    /// Its timeline.
    pub timeline: Vec<TimelineEvent>,
    /// Requested and approved scope and what was narrowed (`Null`: none).
    pub scope: Value,
    /// `{manifest, sha256}` (`Null`: no package).
    pub package: Value,
    /// Erasure or export receipts (`Null`: none).
    pub receipts: Value,
    /// Notices sent (`Null`: none).
    pub notices: Value,
    /// The ledger subjects whose entries belong to the request (`run:<id>`, ...).
    pub subjects: Vec<String>,
}

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// `through` names no usable head.
    #[error("invalid `through`")]
    Invalid(Vec<InputProblem>),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn entry_json(seq: i64, entry: &AuditEntry) -> Value {
    json!({
        "seq": seq,
        "at": entry.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "workspace_id": entry.workspace_id,
        "data": entry.data,
    })
}

/// The decisions people made, as the timeline and the ledger recorded them: reviews,
/// approvals, findings (who, when, step, verdict, reason) and refused attempts (who,
/// when, rule).
fn decisions(timeline: &[TimelineEvent], entries: &[LedgerRow]) -> Value {
    let mut out: Vec<Value> = timeline
        .iter()
        .filter(|event| event.detail.get("step").is_some() || event.kind.ends_with("_decided"))
        .map(|event| {
            json!({
                "timeline_entry": event.id, "at": event.at, "by": event.actor,
                "kind": event.kind, "step": event.detail["step"],
                "verdict": event.detail.get("verdict").or(event.detail.get("finding")),
                "reason": event.detail["reason"], "role": event.detail["role"],
            })
        })
        .collect();
    out.extend(
        entries
            .iter()
            .filter(|row| row.entry.action == "decision.refused")
            .map(|row| {
                json!({
                    "ledger_entry": row.seq, "at": row.entry.at, "by": row.entry.actor,
                    "kind": "refused", "step": row.entry.data["step_id"],
                    "rule": row.entry.data["rule"], "decision": row.entry.data["decision"],
                })
            }),
    );
    Value::Array(out)
}

/// The bundle of `sources`, its chain stretch ending at `through` (default: the head).
pub async fn assemble(
    pool: &sqlx::PgPool,
    sources: Sources,
    generated_by: &str,
    through: Option<i64>,
) -> Result<Value, BundleError> {
    audit::chain_pending(pool).await?;
    let mut conn = pool.acquire().await?;
    let (head_seq, _) = ledger::head(&mut conn).await?;
    let mine = ledger::by_subjects(&mut conn, &sources.subjects).await?;
    let first = mine.first().map_or(head_seq, |row| row.seq);
    let last_mine = mine.last().map_or(head_seq, |row| row.seq);
    let end = through.unwrap_or(head_seq);
    if end < last_mine || end > head_seq {
        return Err(BundleError::Invalid(vec![InputProblem {
            pointer: "?through".into(),
            message: format!(
                "the bundle's chain must end between the request's last ledger entry ({last_mine}) and the head ({head_seq})"
            ),
        }]));
    }
    let own: BTreeSet<i64> = mine.iter().map(|row| row.seq).collect();
    let stretch = ledger::page_for_verify(&mut conn, first - 1, end - first + 1).await?;
    let links: Vec<Value> = stretch
        .iter()
        .map(|row| {
            let mut link = json!({
                "seq": row.seq, "format": row.link,
                "prev_hash": hex::encode(&row.prev_hash), "hash": hex::encode(&row.hash),
            });
            if !own.contains(&row.seq) {
                if row.link == 1 {
                    link["entry"] = entry_json(row.seq, &row.entry);
                } else {
                    link["entry_sha256"] = json!(hex::encode(entry_digest(&row.entry)));
                }
            }
            link
        })
        .collect();
    let head = stretch
        .last()
        .map(|row| json!({ "seq": row.seq, "hash": hex::encode(&row.hash) }))
        .unwrap_or(Value::Null);
    let timeline: Vec<Value> = sources.timeline.iter().map(hashed_form).collect();
    Ok(json!({
        "format": FORMAT,
        "kind": sources.kind,
        "generated_at": Utc::now(),
        "generated_by": generated_by,
        "record": sources.record,
        "timeline": timeline,
        "decisions": decisions(&sources.timeline, &mine),
        "scope": sources.scope,
        "package": sources.package,
        "receipts": sources.receipts,
        "notices": sources.notices,
        "ledger": {
            "subjects": sources.subjects,
            "entries": mine.iter().map(|row| entry_json(row.seq, &row.entry)).collect::<Vec<_>>(),
            "links": links,
            "head": head,
        },
    }))
}

/// The ledger subjects of a request: itself, its run, its holds.
pub fn subjects(request: String, run: Option<Uuid>, holds: &[Uuid]) -> Vec<String> {
    let mut out = vec![request];
    out.extend(run.map(|id| format!("run:{id}")));
    out.extend(holds.iter().map(|id| format!("legal_hold:{id}")));
    out
}
