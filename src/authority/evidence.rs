//! An authority request's evidence bundle ([`crate::evidence::bundle`]): its record, its
//! timeline, the requested and approved scopes with what was narrowed, the package
//! manifest and hash, the notices, and the ledger entries of the request, its run and its
//! holds with the chain links to check them offline.

use serde_json::{Value, json};

use super::requests::{AuthorityRequestId, RequestError, get, unconfined};
use super::store::requests::RequestRow;
use crate::evidence::bundle::{self, BundleError, Sources};
use crate::security::Caller;

impl From<BundleError> for RequestError {
    fn from(error: BundleError) -> Self {
        match error {
            BundleError::Invalid(problems) => RequestError::Invalid(problems),
            BundleError::Database(error) => RequestError::Database(error),
        }
    }
}

fn record(row: &RequestRow) -> Value {
    json!({
        "id": row.id, "authority": row.authority, "jurisdiction": row.jurisdiction,
        "instrument": row.instrument, "reference": row.reference,
        "received_at": row.received_at, "due_at": row.due_at,
        "nondisclosure": { "ordered": row.nondisclosure_ordered, "until": row.nondisclosure_until },
        "documents": row.documents, "recipient": row.recipient,
        "status": row.status, "outcome": row.outcome,
        "verdict": row.verdict, "verdict_reason": row.verdict_reason,
        "reviewed_by": row.reviewed_by, "reviewed_at": row.reviewed_at,
        "hold_ids": row.hold_ids, "package_sha256": row.package_sha256, "basis": row.basis,
        "disclosed_at": row.disclosed_at, "disclosed_by": row.disclosed_by,
        "run_id": row.run_id, "filed_by": row.filed_by, "closed_at": row.closed_at,
    })
}

/// The request's evidence bundle, its chain stretch ending at `through` (default: the
/// head).
pub async fn evidence(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: AuthorityRequestId,
    through: Option<i64>,
) -> Result<Value, RequestError> {
    unconfined(caller)?;
    let detail = get(pool, caller, id).await?;
    let row = &detail.request;
    let sources = Sources {
        kind: "authority_request",
        record: record(row),
        scope: json!({
            "requested": row.requested_scope, "approved": row.approved_scope,
            "narrowed": row.narrowed,
        }),
        package: detail.package.as_ref().map_or(
            Value::Null,
            |p| json!({ "manifest": p.manifest, "sha256": p.sha256 }),
        ),
        receipts: Value::Null,
        notices: json!(
            detail
                .notices
                .iter()
                .map(|n| json!({
                    "workspace_id": n.workspace_id, "status": n.status,
                    "send_at": n.send_at, "sent_at": n.sent_at, "body": n.body,
                }))
                .collect::<Vec<_>>()
        ),
        subjects: bundle::subjects(
            crate::evidence::timeline::Timeline::Authority.subject(row.id),
            row.run_id,
            &row.hold_ids,
        ),
        timeline: detail.timeline.clone(),
    };
    Ok(bundle::assemble(pool, sources, &caller.person, through).await?)
}
