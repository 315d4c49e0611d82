//! Recording the answer sent to the requester of a closed request: when, how and by whom,
//! never what it said.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::requests::{PrivacyRequestId, RequestDetail, RequestError, at, get};
use super::store::requests as store;
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};

/// A response sent to the requester, to record.
#[derive(Debug, Clone)]
pub struct NewResponse {
    /// How it was sent (`email`, `letter`, `whatsapp`, ...).
    pub channel: String,
    /// When.
    pub sent_at: DateTime<Utc>,
    /// The sender's reference (a message id), if any.
    pub reference: Option<String>,
}

/// Records that the answer to a closed request was sent to the requester: when, how and
/// by whom (never what it said), in the timeline and the ledger.
pub async fn record_response(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: PrivacyRequestId,
    response: &NewResponse,
) -> Result<RequestDetail, RequestError> {
    if response.sent_at > Utc::now() + chrono::Duration::minutes(5) {
        return Err(RequestError::Invalid(vec![at(
            "/sent_at",
            "a response is recorded once sent: it cannot be in the future",
        )]));
    }
    let mut tx = pool.begin().await?;
    let row = caller
        .visible(store::lock(&mut tx, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    if row.closed_at.is_none() {
        return Err(RequestError::Conflict(
            "request-open",
            format!(
                "privacy request {} is {}: its answer is recorded once it is closed",
                row.id, row.status
            ),
        ));
    }
    let detail = json!({
        "channel": response.channel, "sent_at": response.sent_at,
        "reference": response.reference, "status": row.status,
    });
    store::add_event(&mut tx, row.id, "responded", &caller.person, &detail).await?;
    let entry = AuditEntry::now(
        &caller.person,
        "privacy_request.responded",
        format!("privacy_request:{}", row.id),
        row.workspace_id.as_deref(),
        json!({ "request_id": row.id, "channel": response.channel, "sent_at": response.sent_at, "status": row.status }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    get(pool, caller, id).await
}
