//! The request bodies of `/v1/privacy-requests`, with the examples the OpenAPI document
//! shows (each is sent as-is by `tests/api/examples.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};

/// The kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RequestKind {
    /// Delete the subject's data (what no legal hold covers; the rest when released).
    Deletion,
    /// A copy of the subject's data: one JSON file per category with a manifest of SHA-256s.
    Access,
    /// Disconnect a business account from Meta: number deregistered, app unsubscribed,
    /// token wiped.
    Disconnect,
}

impl RequestKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            RequestKind::Deletion => "deletion",
            RequestKind::Access => "access",
            RequestKind::Disconnect => "disconnect",
        }
    }
}

/// The law the request is handled under (it sets the deadlines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JurisdictionName {
    /// GDPR: one calendar month, extendable by two.
    Gdpr,
    /// CCPA: acknowledged in 10 business days, answered in 45 days, one 45-day extension.
    Ccpa,
    /// Other: 30 days, one 30-day extension.
    Other,
}

impl JurisdictionName {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            JurisdictionName::Gdpr => "gdpr",
            JurisdictionName::Ccpa => "ccpa",
            JurisdictionName::Other => "other",
        }
    }
}

/// A customer, by WhatsApp id or phone number.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CustomerView {
    /// WhatsApp id (digits).
    #[oai(validator(max_length = 32))]
    pub wa_id: Option<String>,
    /// Phone number (`+` and digits; spaces and dashes allowed).
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
}

/// Whom the request is about: a business account, or one of its customers.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SubjectView {
    /// The business account (workspace).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub workspace_id: String,
    /// The customer, for a request about one (the platform then acts as the business's
    /// processor).
    pub customer: Option<CustomerView>,
}

/// Who asks.
#[derive(Debug, Clone, Object)]
pub struct RequesterView {
    /// Name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// How to reach them (email, phone, postal address).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub contact: String,
    /// Their relation to the subject: `owner`, `customer`, `legal_representative`, ...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub relation: String,
}

/// A request to file.
#[derive(Debug, Object)]
#[oai(example)]
pub struct FileRequest {
    /// Kind.
    pub kind: RequestKind,
    /// Whom it is about.
    pub subject: SubjectView,
    /// Who asks.
    pub requester: RequesterView,
    /// The law it is handled under.
    pub jurisdiction: JurisdictionName,
    /// When it was received (default: now); the deadlines count from it.
    pub received_at: Option<DateTime<Utc>>,
    /// How it came in: `email`, `web_form`, `whatsapp`, `letter`, ...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub channel: String,
    /// Intake notes.
    #[oai(validator(max_length = 4000))]
    pub notes: Option<String>,
}

impl Example for FileRequest {
    fn example() -> Self {
        Self {
            kind: RequestKind::Deletion,
            subject: SubjectView {
                workspace_id: "ws_salon_aurora".into(),
                customer: Some(CustomerView {
                    wa_id: Some("4915123456789".into()),
                    phone: None,
                }),
            },
            requester: RequesterView {
                name: "Mara Lindqvist".into(),
                contact: "mara@example.com".into(),
                relation: "customer".into(),
            },
            jurisdiction: JurisdictionName::Gdpr,
            received_at: None,
            channel: "email".into(),
            notes: Some("Asked the salon to delete her booking history".into()),
        }
    }
}

/// A decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RequestDecision {
    /// Approve the step the request waits at.
    Approve,
    /// Deny the request (name a `reason`).
    Deny,
}

/// A review or second approval.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DecideRequest {
    /// Approve or deny.
    pub decision: RequestDecision,
    /// For a denial: `not_verified`, `not_authorized`, `no_data`, `outside_jurisdiction`,
    /// `manifestly_unfounded`, `duplicate` or `other`.
    #[oai(validator(max_length = 50))]
    pub reason: Option<String>,
    /// Free text (kept in the run's decision, never in the audit ledger).
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for DecideRequest {
    fn example() -> Self {
        Self {
            decision: RequestDecision::Approve,
            reason: None,
            note: Some("Requester verified through the salon's own key".into()),
        }
    }
}

/// An extension of the deadline.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ExtendRequest {
    /// The new due day.
    pub to: NaiveDate,
    /// Why (the complexity or number of requests).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub reason: String,
    /// When the requester was told of the extension and its reasons.
    pub notice_at: DateTime<Utc>,
}

impl Example for ExtendRequest {
    fn example() -> Self {
        Self {
            to: NaiveDate::from_ymd_opt(2027, 2, 26).expect("a valid date"),
            reason: "Records span three connected numbers; collecting them needs more time".into(),
            notice_at: DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
                .expect("a valid instant")
                .with_timezone(&Utc),
        }
    }
}

/// A response sent to the requester.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RespondRequest {
    /// How it was sent: `email`, `letter`, `whatsapp`, `web_form`, ...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub channel: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// The sender's reference (a message id); never the response's text.
    #[oai(validator(max_length = 200))]
    pub reference: Option<String>,
}

impl Example for RespondRequest {
    fn example() -> Self {
        Self {
            channel: "email".into(),
            sent_at: DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
                .expect("a valid instant")
                .with_timezone(&Utc),
            reference: Some("<answer-2026-0142@bazaarstreet.example>".into()),
        }
    }
}

/// A code the requester received on WhatsApp.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VerifyRequest {
    /// The 6 digits.
    #[oai(validator(min_length = 1, max_length = 20))]
    pub code: String,
}

impl Example for VerifyRequest {
    fn example() -> Self {
        Self {
            code: "123456".into(),
        }
    }
}
