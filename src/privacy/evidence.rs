//! A privacy request's evidence bundle ([`crate::evidence::bundle`]): its record, its
//! timeline, the package manifest of an access request, the receipts of its execution,
//! and the ledger entries of the request, its run and its holds with the chain links to
//! check them offline. Only staff whose keys see every workspace take bundles out: the
//! chain stretch carries other workspaces' entries (as digests, or whole when written
//! in link format 1).

use serde_json::{Value, json};

use super::requests::{PrivacyRequestId, RequestError, get};
use crate::evidence::bundle::{self, BundleError, Sources};
use crate::evidence::timeline::{self, Timeline};
use crate::security::Caller;

impl From<BundleError> for RequestError {
    fn from(error: BundleError) -> Self {
        match error {
            BundleError::Invalid(problems) => RequestError::Invalid(problems),
            BundleError::Database(error) => RequestError::Database(error),
        }
    }
}

/// The request's evidence bundle, its chain stretch ending at `through` (default: the
/// head).
pub async fn evidence(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: PrivacyRequestId,
    through: Option<i64>,
) -> Result<Value, RequestError> {
    if caller.workspace_id.is_some() {
        return Err(RequestError::Conflict(
            "confined-key",
            "evidence bundles are taken out by staff whose keys see every workspace".into(),
        ));
    }
    let detail = get(pool, caller, id).await?;
    let row = &detail.request;
    let mut conn = pool.acquire().await?;
    let events = timeline::events(&mut conn, Timeline::Privacy, row.id).await?;
    drop(conn);
    let record = json!({
        "id": row.id, "workspace_id": row.workspace_id, "kind": row.kind, "mode": row.mode,
        "customer_sha256": row.customer_sha256, "requester_relation": row.requester_relation,
        "jurisdiction": row.jurisdiction, "channel": row.channel,
        "received_at": row.received_at, "due_on": row.due_on, "extensions": row.extensions,
        "status": row.status, "run_id": row.run_id, "filed_by": row.filed_by,
        "verification_method": row.verification_method, "verified_at": row.verified_at,
        "denial_reason": row.denial_reason, "hold_ids": row.hold_ids,
        "closed_at": row.closed_at,
    });
    let sources = Sources {
        kind: "privacy_request",
        record,
        timeline: events,
        scope: Value::Null,
        package: detail.package.as_ref().map_or(
            Value::Null,
            |(manifest, removed)| json!({ "manifest": manifest, "files_removed": removed }),
        ),
        receipts: row.receipts.clone().unwrap_or(Value::Null),
        notices: Value::Null,
        subjects: bundle::subjects(Timeline::Privacy.subject(row.id), row.run_id, &row.hold_ids),
    };
    Ok(bundle::assemble(pool, sources, &caller.person, through).await?)
}
