//! Verifying a requester by a one-time code sent through the workspace's connected
//! WhatsApp number to the customer's number, as an AUTHENTICATION template (Meta refuses
//! free-form text outside the 24-hour window). A code is 6 digits, lives 10 minutes and
//! takes 3 wrong entries; only its keyed digest is stored and it is compared in constant
//! time; a fresh code supersedes the one before. Verification proves the requester
//! controls the number; the review decides whether they may act for it.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::requests::{PrivacyRequestId, RequestDetail, RequestError, get};
use super::store::{codes, requests as store};
use crate::engine::commands::events::Event;
use crate::engine::commands::runs::Actor;
use crate::engine::{Engine, InputProblem, RunId};
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};
use crate::security::secret_box::SecretBox;

/// How long a code may be entered.
pub const CODE_LIFETIME_MINUTES: i64 = 10;

/// Wrong entries a code takes before it is exhausted.
pub const MAX_ATTEMPTS: i32 = 3;

/// How long a request may stay unverified before it closes as `unverified`.
pub const UNVERIFIED_AFTER_DAYS: i64 = 14;

/// The event a request waiting for verification is woken by (a code entered right, or a
/// fresh code asked for).
pub const VERIFICATION_EVENT: &str = "privacy_request_verification";

fn digest_context(request_id: uuid::Uuid) -> String {
    format!("privacy_request_code:{request_id}")
}

/// A new code for the request, stored as its digest (superseding the open one); answers
/// the code (for the message only), its number and its expiry.
pub async fn issue(
    conn: &mut sqlx::PgConnection,
    secrets: &SecretBox,
    request_id: uuid::Uuid,
) -> sqlx::Result<(String, i32, DateTime<Utc>)> {
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
    let expires_at = Utc::now() + Duration::minutes(CODE_LIFETIME_MINUTES);
    let digest = secrets.digest(&digest_context(request_id), &code);
    let seq = codes::issue(conn, request_id, &digest, expires_at).await?;
    Ok((code, seq, expires_at))
}

fn conflict(rule: &'static str, message: String) -> RequestError {
    RequestError::Conflict(rule, message)
}

/// Checks a code the requester entered (read to staff, or typed by the business). Right:
/// the request is verified and its run moves on to review. Wrong: one attempt fewer;
/// expired, exhausted or superseded codes are refused naming the rule.
pub async fn submit_code(
    engine: &Engine,
    secrets: &SecretBox,
    caller: &Caller,
    id: PrivacyRequestId,
    code: &str,
) -> Result<RequestDetail, RequestError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RequestError::Invalid(vec![InputProblem {
            pointer: "/code".into(),
            message: "a code is 6 digits".into(),
        }]));
    }
    let mut tx = engine.pool().begin().await?;
    let row = caller
        .visible(store::lock(&mut tx, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    if row.status != "verifying" || row.closed_at.is_some() {
        return Err(conflict(
            "not-verifying",
            format!(
                "privacy request {} is {}: it waits for no code",
                row.id, row.status
            ),
        ));
    }
    let latest = codes::latest_locked(&mut tx, row.id)
        .await?
        .ok_or_else(|| {
            conflict(
                "no-code",
                "no code has been sent for this request yet".into(),
            )
        })?;
    match latest.status.as_str() {
        "exhausted" => {
            return Err(conflict(
                "code-exhausted",
                format!("the code took {MAX_ATTEMPTS} wrong entries; ask for a fresh one"),
            ));
        }
        "open" => {}
        other => {
            return Err(conflict(
                "code-not-open",
                format!("the latest code is {other}; ask for a fresh one"),
            ));
        }
    }
    if latest.expires_at <= Utc::now() {
        return Err(conflict(
            "code-expired",
            format!("the code expired after {CODE_LIFETIME_MINUTES} minutes; ask for a fresh one"),
        ));
    }
    let entered = secrets.digest(&digest_context(row.id), code);
    let right: bool = entered.ct_eq(&latest.code_digest).into();
    if !right {
        let attempts = codes::record_wrong(&mut tx, row.id, latest.seq, MAX_ATTEMPTS).await?;
        let detail = json!({ "seq": latest.seq, "attempts": attempts });
        store::add_event(&mut tx, row.id, "code_wrong", &caller.person, &detail).await?;
        tx.commit().await?;
        return Err(RequestError::Invalid(vec![InputProblem {
            pointer: "/code".into(),
            message: format!(
                "wrong code; {} attempt(s) left",
                (MAX_ATTEMPTS - attempts).max(0)
            ),
        }]));
    }
    let now = Utc::now();
    codes::mark_used(&mut tx, row.id, latest.seq).await?;
    store::set_verified(&mut tx, row.id, "whatsapp_code", now).await?;
    store::set_status(&mut tx, row.id, "in_review").await?;
    let detail = json!({ "method": "whatsapp_code", "seq": latest.seq });
    store::add_event(&mut tx, row.id, "verified", &caller.person, &detail).await?;
    let entry = AuditEntry::now(
        &caller.person,
        "privacy_request.verified",
        format!("privacy_request:{}", row.id),
        row.workspace_id.as_deref(),
        json!({ "request_id": row.id, "method": "whatsapp_code", "seq": latest.seq }),
    );
    audit::append(&mut tx, &[entry]).await?;
    if let Some(run_id) = row.run_id {
        let payload = json!({ "verified": true });
        let correlation = row.id.to_string();
        engine
            .post_event_within(
                &mut tx,
                RunId::from(run_id),
                &Event {
                    name: VERIFICATION_EVENT,
                    correlation: &correlation,
                    payload: &payload,
                },
                Actor::Service(super::ACTOR),
            )
            .await?;
    }
    tx.commit().await?;
    get(engine.pool(), caller, id).await
}

/// Asks for a fresh code (the old one lost, expired or exhausted): the run sends one,
/// superseding the one before.
pub async fn reissue(
    engine: &Engine,
    caller: &Caller,
    id: PrivacyRequestId,
) -> Result<RequestDetail, RequestError> {
    let detail = get(engine.pool(), caller, id).await?;
    let row = &detail.request;
    let run_id = row
        .run_id
        .filter(|_| row.status == "verifying" && row.customer.is_some())
        .ok_or_else(|| {
            conflict(
                "not-verifying",
                format!(
                    "privacy request {} is {}: no code can be sent for it",
                    row.id, row.status
                ),
            )
        })?;
    let run = engine.run(RunId::from(run_id)).await?;
    if run.current_step.as_deref() != Some("await_verification") || run.is_finished() {
        return Err(conflict(
            "code-on-its-way",
            "a code is being sent for this request; wait for it".into(),
        ));
    }
    let payload = json!({ "reissue": true, "asked_by": caller.person });
    engine
        .post_event(
            RunId::from(run_id),
            VERIFICATION_EVENT,
            &row.id.to_string(),
            &payload,
            Actor::Service(super::ACTOR),
        )
        .await?;
    get(engine.pool(), caller, id).await
}

/// Whether a request received at `received_at` has been unverified too long.
pub fn too_late(received_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - received_at > Duration::days(UNVERIFIED_AFTER_DAYS)
}
