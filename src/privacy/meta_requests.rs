//! Requests from Meta's data deletion callback: filed for a Meta user (verified by Meta's
//! signature, the user's id kept only as a SHA-256), and the public status a requester
//! looks up by confirmation code.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::deadlines::{self, Jurisdiction};
use super::requests::{
    PrivacyRequestId, RequestError, RequestRow, confirmation_code, sha256_hex, start_run,
};
use super::store::requests as store;
use crate::engine::Engine;
use crate::security::audit::{self, AuditEntry};

/// Files the deletion request Meta's data deletion callback makes for one of its users
/// (verified by Meta's signature); a request for the same user still open is answered
/// instead of a second one. The user's id is kept only as its SHA-256.
pub async fn file_meta_deletion(
    engine: &Engine,
    user_id: &str,
) -> Result<RequestRow, RequestError> {
    let digest = sha256_hex(&format!("meta_user:{user_id}"));
    let mut tx = engine.pool().begin().await?;
    if let Some(open) = store::open_for_meta_user(&mut tx, &digest).await? {
        return Ok(open);
    }
    let now = Utc::now();
    let dates = deadlines::deadlines(Jurisdiction::Other, now.date_naive());
    let row = store::insert(
        &mut tx,
        &RequestRow {
            id: PrivacyRequestId::new().uuid(),
            workspace_id: None,
            meta_user_sha256: Some(digest),
            confirmation_code: Some(confirmation_code()),
            kind: "deletion".into(),
            mode: "controller".into(),
            customer: None,
            customer_sha256: None,
            requester_name: None,
            requester_contact: None,
            requester_relation: "meta_user".into(),
            jurisdiction: Jurisdiction::Other.as_str().into(),
            channel: "meta_data_deletion_callback".into(),
            notes: None,
            received_at: now,
            acknowledge_by: dates.acknowledge_by,
            due_on: dates.due_on,
            extensions: 0,
            status: "received".into(),
            run_id: None,
            filed_by: super::ACTOR.into(),
            verification_method: Some("meta_signed_request".into()),
            verified_at: Some(now),
            denial_reason: None,
            hold_ids: Vec::new(),
            receipts: None,
            closed_at: None,
        },
    )
    .await?;
    let detail = json!({ "kind": "deletion", "subject": "meta_user", "channel": row.channel, "due_on": row.due_on });
    store::add_event(&mut tx, row.id, "filed", super::ACTOR, &detail).await?;
    let verified = json!({ "method": "meta_signed_request" });
    store::add_event(&mut tx, row.id, "verified", super::ACTOR, &verified).await?;
    let entry = AuditEntry::now(
        super::ACTOR,
        "privacy_request.filed",
        format!("privacy_request:{}", row.id),
        None,
        json!({ "request_id": row.id, "kind": "deletion", "subject": "meta_user", "verification": "meta_signed_request" }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    start_run(engine, &row).await
}

/// What the public status page shows of a request: no personal data, only where it
/// stands, when, and why it was refused.
#[derive(Debug, Clone)]
pub struct PublicStatus {
    /// The request's status.
    pub status: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When it is due.
    pub due_on: NaiveDate,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was refused.
    pub denial_reason: Option<String>,
    /// Whether it is about a Meta user (whose data the platform does not hold).
    pub meta_user: bool,
}

/// The public status of the request with confirmation code `code`.
pub async fn public_status(
    pool: &sqlx::PgPool,
    code: &str,
) -> Result<Option<PublicStatus>, RequestError> {
    if code.len() != 16 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let mut conn = pool.acquire().await?;
    Ok(store::by_confirmation_code(&mut conn, code)
        .await?
        .map(|row| PublicStatus {
            status: row.status,
            received_at: row.received_at,
            due_on: row.due_on,
            closed_at: row.closed_at,
            denial_reason: row.denial_reason,
            meta_user: row.meta_user_sha256.is_some(),
        }))
}
