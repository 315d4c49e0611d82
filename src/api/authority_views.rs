//! The views of `/v1/authority-requests` and `/v1/notices`: a request with its scopes,
//! review and disclosure, its timeline, package manifest and notices.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::Value;
use uuid::Uuid;

use crate::authority::requests::{EventRow, NoticeRow, PackageRow, RequestDetail, RequestRow};

/// An authority request.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthorityRequestView {
    /// Id.
    pub id: Uuid,
    /// Who asks.
    pub authority: String,
    /// Under which law.
    pub jurisdiction: String,
    /// The instrument.
    pub instrument: String,
    /// The authority's reference.
    pub reference: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When the authority wants an answer.
    pub due_at: Option<DateTime<Utc>>,
    /// What it asks for.
    pub requested_scope: Value,
    /// What the review approved of it.
    pub approved_scope: Option<Value>,
    /// What the approval left out, axis by axis.
    pub narrowed: Option<Value>,
    /// Per approved category: the instrument and the rule that allowed it.
    pub basis: Option<Value>,
    /// A nondisclosure order: `{ordered, until}`.
    pub nondisclosure: Value,
    /// The documents served: `[{name, sha256}]`.
    pub documents: Value,
    /// Who receives a disclosure.
    pub recipient: String,
    /// `received`, `in_review`, `awaiting_emergency_approval`, `needs_clarification`,
    /// `clarified`, `clarification_lapsed`, `approved`, `rejecting`, `preserving`,
    /// `packaging`, `awaiting_disclosure_approval`, `disclosed`, `awaiting_post_review`,
    /// `post_review_overdue`, `notifying`, `notice_delayed`, `closed`.
    pub status: String,
    /// Once closed: `rejected`, `disclosed`, `withheld` or `preserved`.
    pub outcome: Option<String>,
    /// The review: `valid`, `invalid` or `needs_clarification`.
    pub verdict: Option<String>,
    /// Its reason.
    pub verdict_reason: Option<String>,
    /// Who reviewed it.
    pub reviewed_by: Option<String>,
    /// The legal holds preserving the approved scope.
    pub hold_ids: Vec<Uuid>,
    /// The package's SHA-256 (of its canonical manifest).
    pub package_sha256: Option<String>,
    /// When it was disclosed.
    pub disclosed_at: Option<DateTime<Utc>>,
    /// The compliance lead who approved the disclosure.
    pub disclosed_by: Option<String>,
    /// Its run.
    pub run_id: Option<Uuid>,
    /// Who filed it.
    pub filed_by: String,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<RequestRow> for AuthorityRequestView {
    fn from(row: RequestRow) -> Self {
        Self {
            id: row.id,
            authority: row.authority,
            jurisdiction: row.jurisdiction,
            instrument: row.instrument,
            reference: row.reference,
            received_at: row.received_at,
            due_at: row.due_at,
            requested_scope: row.requested_scope,
            approved_scope: row.approved_scope,
            narrowed: row.narrowed,
            basis: row.basis,
            nondisclosure: serde_json::json!({
                "ordered": row.nondisclosure_ordered, "until": row.nondisclosure_until,
            }),
            documents: row.documents,
            recipient: row.recipient,
            status: row.status,
            outcome: row.outcome,
            verdict: row.verdict,
            verdict_reason: row.verdict_reason,
            reviewed_by: row.reviewed_by,
            hold_ids: row.hold_ids,
            package_sha256: row.package_sha256,
            disclosed_at: row.disclosed_at,
            disclosed_by: row.disclosed_by,
            run_id: row.run_id,
            filed_by: row.filed_by,
            closed_at: row.closed_at,
        }
    }
}

/// One entry of a request's timeline.
#[derive(Debug, Object)]
pub struct AuthorityTimelineEntryView {
    /// Its id (what the ledger's entry for it names).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What: `filed`, `reviewed`, `clarification_received`, `clarification_lapsed`,
    /// `preserved`, `preservation_renewed`, `package_built`, `disclosure_approved`,
    /// `disclosure_withheld`, `disclosed`, `post_review_overdue`, `post_reviewed`,
    /// `notice_scheduled`, `notice_sent`, `notice_withheld`, `closed`.
    pub kind: String,
    /// Who (a person's handle, or `authority` for the service).
    pub actor: String,
    /// Verdicts, scopes, ids, reasons.
    pub detail: Value,
}

impl From<EventRow> for AuthorityTimelineEntryView {
    fn from(event: EventRow) -> Self {
        Self {
            id: event.id,
            at: event.at,
            kind: event.kind,
            actor: event.actor,
            detail: event.detail,
        }
    }
}

/// A request's package.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthorityPackageView {
    /// What it holds: each file's name, category, SHA-256, size and rows.
    pub manifest: Value,
    /// SHA-256 of the canonical manifest.
    pub sha256: String,
    /// Whether the files may still be fetched (`GET …/package`).
    pub files_available: bool,
    /// Until when (set at disclosure).
    pub files_expire_at: Option<DateTime<Utc>>,
}

impl From<PackageRow> for AuthorityPackageView {
    fn from(row: PackageRow) -> Self {
        Self {
            manifest: row.manifest,
            sha256: row.sha256,
            files_available: row.files.is_some() && row.files_expire_at.is_some(),
            files_expire_at: row.files_expire_at,
        }
    }
}

/// A notice to a business whose data was disclosed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NoticeView {
    /// The request it is about.
    pub request_id: Uuid,
    /// The business told.
    pub workspace_id: String,
    /// `scheduled` (a nondisclosure order applies until `send_at`), `sent`, `withheld`.
    pub status: String,
    /// When it is to be sent.
    pub send_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// What it says: the authority, instrument, reference, categories, when, the
    /// package's hash.
    pub body: Value,
}

impl From<NoticeRow> for NoticeView {
    fn from(row: NoticeRow) -> Self {
        Self {
            request_id: row.request_id,
            workspace_id: row.workspace_id,
            status: row.status,
            send_at: row.send_at,
            sent_at: row.sent_at,
            body: row.body,
        }
    }
}

/// A request with everything that happened to it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthorityRequestDetailView {
    /// The request.
    pub request: AuthorityRequestView,
    /// Its timeline, oldest first.
    pub timeline: Vec<AuthorityTimelineEntryView>,
    /// Its package, once built.
    pub package: Option<AuthorityPackageView>,
    /// The notices to the businesses concerned.
    pub notices: Vec<NoticeView>,
}

impl From<RequestDetail> for AuthorityRequestDetailView {
    fn from(detail: RequestDetail) -> Self {
        Self {
            request: detail.request.into(),
            timeline: detail.timeline.into_iter().map(Into::into).collect(),
            package: detail.package.map(Into::into),
            notices: detail.notices.into_iter().map(Into::into).collect(),
        }
    }
}
