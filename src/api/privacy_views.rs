//! The views of `/v1/privacy-requests`: a request with its deadlines and SLA state, its
//! timeline, extensions and package, and a package link.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::Object;
use serde_json::Value;
use uuid::Uuid;

use crate::privacy::requests::{self, RequestDetail, RequestRow};

/// One entry of a request's timeline.
#[derive(Debug, Object)]
pub struct TimelineEntryView {
    /// When.
    pub at: DateTime<Utc>,
    /// What: `filed`, `verified`, `review_approved`, `lead_approval_approved`, `on_hold`,
    /// `erased`, `extended`, `completed`, `denied`, `unverified`.
    pub kind: String,
    /// Who (a person's handle, or `privacy` for the service).
    pub actor: String,
    /// Ids, rules and reasons.
    pub detail: Value,
}

/// An extension of a request's deadline.
#[derive(Debug, Object)]
pub struct ExtensionView {
    /// 1 for the first.
    pub seq: i32,
    /// The due day before it.
    pub from_due: NaiveDate,
    /// The due day after it.
    pub to_due: NaiveDate,
    /// Why.
    pub reason: String,
    /// When the requester was told.
    pub notice_at: DateTime<Utc>,
    /// Who extended it.
    pub extended_by: String,
    /// When.
    pub extended_at: DateTime<Utc>,
}

/// A privacy request.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PrivacyRequestView {
    /// Id.
    pub id: Uuid,
    /// `deletion`, `access` or `disconnect`.
    pub kind: String,
    /// `controller` (the business account's own data) or `processor` (its customer's).
    pub mode: String,
    /// The business account (absent for a Meta user's callback request).
    pub workspace_id: Option<String>,
    /// What the requester looks the request up by (`/privacy/deletion-status/{code}`).
    pub confirmation_code: Option<String>,
    /// The customer (absent for a business account, and once erased).
    pub customer: Option<String>,
    /// The customer's SHA-256 (stays after erasure).
    pub customer_sha256: Option<String>,
    /// Who asks (absent once erased by a completed deletion).
    pub requester_name: Option<String>,
    /// How to reach them.
    pub requester_contact: Option<String>,
    /// Their relation to the subject.
    pub requester_relation: String,
    /// `gdpr`, `ccpa` or `other`.
    pub jurisdiction: String,
    /// How it came in.
    pub channel: String,
    /// Intake notes.
    pub notes: Option<String>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// Receipt to be acknowledged by the end of this day (CCPA).
    pub acknowledge_by: Option<NaiveDate>,
    /// The response is due by the end of this day (UTC).
    pub due_on: NaiveDate,
    /// The same as an instant.
    pub due_at: DateTime<Utc>,
    /// `on_track`, `due_soon` (7 days or less) or `overdue`; absent once closed.
    pub sla: Option<String>,
    /// Extensions so far.
    pub extensions: i32,
    /// `received`, `verifying`, `in_review`, `awaiting_second_approval`, `executing`,
    /// `on_hold`, `completed`, `denied` or `unverified`.
    pub status: String,
    /// Its run (`/v1/runs/{id}`, for unconfined keys).
    pub run_id: Option<Uuid>,
    /// Who filed it.
    pub filed_by: String,
    /// How the requester was verified: `workspace_key` or `whatsapp_code`.
    pub verification_method: Option<String>,
    /// When.
    pub verified_at: Option<DateTime<Utc>>,
    /// Why it was denied.
    pub denial_reason: Option<String>,
    /// The legal holds it waits for.
    pub hold_ids: Vec<Uuid>,
    /// What execution did: each execution's per-table receipts, and totals.
    pub receipts: Option<Value>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<RequestRow> for PrivacyRequestView {
    fn from(row: RequestRow) -> Self {
        let (due_at, sla) = requests::due(&row, Utc::now());
        Self {
            id: row.id,
            kind: row.kind,
            mode: row.mode,
            workspace_id: row.workspace_id,
            confirmation_code: row.confirmation_code,
            customer: row.customer,
            customer_sha256: row.customer_sha256,
            requester_name: row.requester_name,
            requester_contact: row.requester_contact,
            requester_relation: row.requester_relation,
            jurisdiction: row.jurisdiction,
            channel: row.channel,
            notes: row.notes,
            received_at: row.received_at,
            acknowledge_by: row.acknowledge_by,
            due_on: row.due_on,
            due_at,
            sla: sla.map(|state| state.as_str().to_owned()),
            extensions: row.extensions,
            status: row.status,
            run_id: row.run_id,
            filed_by: row.filed_by,
            verification_method: row.verification_method,
            verified_at: row.verified_at,
            denial_reason: row.denial_reason,
            hold_ids: row.hold_ids,
            receipts: row.receipts,
            closed_at: row.closed_at,
        }
    }
}

/// An access request's package.
#[derive(Debug, Object)]
pub struct PackageView {
    /// One file per data category with its SHA-256 and rows, and the subject.
    pub manifest: Value,
    /// Whether its files were deleted (the link expired or was used up); the manifest
    /// stays as the record of what was disclosed.
    pub files_deleted: bool,
}

/// A request with its timeline and extensions.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PrivacyRequestDetailView {
    /// The request.
    pub request: PrivacyRequestView,
    /// What happened, oldest first.
    pub timeline: Vec<TimelineEntryView>,
    /// Its deadline's extensions.
    pub extensions: Vec<ExtensionView>,
    /// An access request's package, once built.
    pub package: Option<PackageView>,
}

/// A link to an access request's package, shown once.
#[derive(Debug, Object)]
pub struct PackageLinkView {
    /// The package's address on this service (public: the token is the credential).
    pub path: String,
    /// Until when it works.
    pub expires_at: DateTime<Utc>,
    /// How many times it may be fetched.
    pub fetches: i32,
}

impl From<RequestDetail> for PrivacyRequestDetailView {
    fn from(detail: RequestDetail) -> Self {
        Self {
            request: detail.request.into(),
            timeline: detail
                .timeline
                .into_iter()
                .map(|event| TimelineEntryView {
                    at: event.at,
                    kind: event.kind,
                    actor: event.actor,
                    detail: event.detail,
                })
                .collect(),
            extensions: detail
                .extensions
                .into_iter()
                .map(|e| ExtensionView {
                    seq: e.seq,
                    from_due: e.from_due,
                    to_due: e.to_due,
                    reason: e.reason,
                    notice_at: e.notice_at,
                    extended_by: e.extended_by,
                    extended_at: e.extended_at,
                })
                .collect(),
            package: detail.package.map(|(manifest, files_deleted)| PackageView {
                manifest,
                files_deleted,
            }),
        }
    }
}
