//! Extending a privacy request's statutory deadline, as its jurisdiction allows: before
//! the original due date, with a reason and the time the requester was told; recorded in
//! the timeline and the ledger.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::deadlines::{self, ExtensionRefused, Jurisdiction};
use super::requests::{PrivacyRequestId, RequestDetail, RequestError, at, get};
use super::store::requests::{self as store, ExtensionRow};
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};

/// An extension to record.
#[derive(Debug, Clone)]
pub struct NewExtension {
    /// The new due day.
    pub to: NaiveDate,
    /// Why (complexity, number of requests).
    pub reason: String,
    /// When the requester was told, with the reasons.
    pub notice_at: DateTime<Utc>,
}

fn refused(refusal: ExtensionRefused) -> RequestError {
    let problem = |pointer| RequestError::Invalid(vec![at(pointer, refusal.to_string())]);
    match refusal {
        ExtensionRefused::NoReason => problem("/reason"),
        ExtensionRefused::NoticeTooLate(_) => problem("/notice_at"),
        ExtensionRefused::BeyondMaximum(_) | ExtensionRefused::NotLater(_) => problem("/to"),
        ExtensionRefused::NoneLeft(..) => {
            RequestError::Conflict("no-extension-left", refusal.to_string())
        }
    }
}

/// Extends a request's deadline, as its jurisdiction allows, before its original due
/// date; recorded with its reason and notice, and audited.
pub async fn extend(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: PrivacyRequestId,
    extension: &NewExtension,
) -> Result<RequestDetail, RequestError> {
    let now = Utc::now();
    if extension.notice_at > now + chrono::Duration::minutes(5) {
        return Err(RequestError::Invalid(vec![at(
            "/notice_at",
            "the notice must have been given: it cannot be in the future",
        )]));
    }
    let mut tx = pool.begin().await?;
    let row = caller
        .visible(store::lock(&mut tx, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    if row.closed_at.is_some() {
        return Err(RequestError::Conflict(
            "request-closed",
            format!("privacy request {} is {} and closed", row.id, row.status),
        ));
    }
    let jurisdiction = Jurisdiction::parse(&row.jurisdiction).unwrap_or(Jurisdiction::Other);
    let dates = deadlines::deadlines(jurisdiction, row.received_at.date_naive());
    if now > deadlines::end_of(dates.due_on) {
        return Err(RequestError::Conflict(
            "extension-too-late",
            format!(
                "the original due date ({}) has passed: an extension must be made before it",
                dates.due_on
            ),
        ));
    }
    let used = u32::try_from(row.extensions).unwrap_or(u32::MAX);
    let to = deadlines::extend(
        jurisdiction,
        &dates,
        row.due_on,
        used,
        extension.to,
        &extension.reason,
        extension.notice_at,
    )
    .map_err(refused)?;
    let record = ExtensionRow {
        seq: row.extensions + 1,
        from_due: row.due_on,
        to_due: to,
        reason: extension.reason.clone(),
        notice_at: extension.notice_at,
        extended_by: caller.person.clone(),
        extended_at: now,
    };
    store::extend(&mut tx, row.id, &record).await?;
    let detail = json!({ "seq": record.seq, "from_due": record.from_due, "to_due": to, "notice_at": record.notice_at });
    store::add_event(&mut tx, row.id, "extended", &caller.person, &detail).await?;
    let mut data = detail;
    data["request_id"] = json!(row.id);
    let entry = AuditEntry::now(
        &caller.person,
        "privacy_request.extended",
        format!("privacy_request:{}", row.id),
        row.workspace_id.as_deref(),
        data,
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    get(pool, caller, id).await
}
