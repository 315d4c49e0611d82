//! The request bodies of `/v1/authority-requests`, with the examples the OpenAPI
//! document shows (each is sent as-is by `tests/api/examples.rs`).

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};

use crate::authority::scope::ScopeInput;

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a valid instant")
        .with_timezone(&Utc)
}

/// What a request asks for, or what a review approves of it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ScopeBody {
    /// Business accounts (workspace ids). Name these, the customers, or both.
    #[oai(validator(max_items = 100))]
    pub workspaces: Option<Vec<String>>,
    /// Customers, by WhatsApp id or phone number.
    #[oai(validator(max_items = 1000))]
    pub customers: Option<Vec<String>>,
    /// Data-map categories (`GET /v1/data-map`): `workspace_config`, `message_statuses`,
    /// `inbound_messages`, ...
    #[oai(validator(max_items = 20))]
    pub categories: Vec<String>,
    /// Records from this instant on.
    pub from: Option<DateTime<Utc>>,
    /// Records up to this instant.
    pub to: Option<DateTime<Utc>>,
}

impl From<ScopeBody> for ScopeInput {
    fn from(body: ScopeBody) -> Self {
        ScopeInput {
            workspaces: body.workspaces,
            customers: body.customers,
            categories: body.categories,
            from: body.from,
            to: body.to,
        }
    }
}

/// A nondisclosure order served with the request.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NondisclosureBody {
    /// Whether one was ordered.
    pub ordered: bool,
    /// Until when it applies (absent with an order: until lifted); must be in the future.
    pub until: Option<DateTime<Utc>>,
}

/// A document served (the file itself is kept by counsel; its hash is recorded).
#[derive(Debug, Clone, Object)]
pub struct DocumentBody {
    /// File name.
    #[oai(validator(min_length = 1, max_length = 300))]
    pub name: String,
    /// SHA-256 of the file (64 lower-case hex digits).
    #[oai(validator(max_length = 64))]
    pub sha256: String,
}

/// A request to file.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct FileAuthorityRequest {
    /// Who asks: the agency or court.
    #[oai(validator(min_length = 1, max_length = 300))]
    pub authority: String,
    /// Under which law: a country or state code such as `US`, `US-CA`, `DE`.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub jurisdiction: String,
    /// `subpoena`, `court_order`, `warrant`, `preservation`, `emergency` or `other`
    /// (docs/AUTHORITY.md: what each allows to be produced).
    #[oai(validator(max_length = 50))]
    pub instrument: String,
    /// The authority's reference (case or docket number).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reference: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// What it asks for.
    pub requested_scope: ScopeBody,
    /// A nondisclosure order (default: none).
    pub nondisclosure: Option<NondisclosureBody>,
    /// The documents served.
    #[oai(validator(max_items = 50))]
    pub documents: Option<Vec<DocumentBody>>,
    /// When the authority wants an answer.
    pub due_at: Option<DateTime<Utc>>,
    /// Who receives a disclosure (default: the authority).
    #[oai(validator(max_length = 300))]
    pub recipient: Option<String>,
}

impl Example for FileAuthorityRequest {
    fn example() -> Self {
        Self {
            authority: "Example County Sheriff's Office".into(),
            jurisdiction: "US-CA".into(),
            instrument: "court_order".into(),
            reference: "CR-2026-04417".into(),
            received_at: instant("2026-12-01T09:30:00Z"),
            requested_scope: ScopeBody {
                workspaces: Some(vec!["ws_salon_aurora".into()]),
                customers: Some(vec!["4915123456789".into()]),
                categories: vec!["message_statuses".into(), "inbound_messages".into()],
                from: Some(instant("2026-06-01T00:00:00Z")),
                to: Some(instant("2026-11-30T23:59:59Z")),
            },
            nondisclosure: Some(NondisclosureBody {
                ordered: true,
                until: Some(instant("2030-06-01T00:00:00Z")),
            }),
            documents: Some(vec![DocumentBody {
                name: "order-CR-2026-04417.pdf".into(),
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            }]),
            due_at: Some(instant("2026-12-15T17:00:00Z")),
            recipient: None,
        }
    }
}

/// A review's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum VerdictName {
    /// Legally sufficient: give the approved scope.
    Valid,
    /// Not sufficient: the request closes with the reason as the response.
    Invalid,
    /// The authority must clarify; the review comes back when it does (or in 30 days).
    NeedsClarification,
}

/// A review of legal sufficiency (or an emergency's approval by a lead).
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ReviewBody {
    /// The verdict.
    pub verdict: VerdictName,
    /// For `valid`: what is approved, within the request and the instrument.
    pub approved_scope: Option<ScopeBody>,
    /// Why (required unless valid); kept in the request's record, never in the ledger.
    #[oai(validator(max_length = 4000))]
    pub reason: Option<String>,
}

impl Example for ReviewBody {
    fn example() -> Self {
        Self {
            verdict: VerdictName::Valid,
            approved_scope: Some(ScopeBody {
                workspaces: Some(vec!["ws_salon_aurora".into()]),
                customers: Some(vec!["4915123456789".into()]),
                categories: vec!["message_statuses".into()],
                from: Some(instant("2026-09-01T00:00:00Z")),
                to: Some(instant("2026-11-30T23:59:59Z")),
            }),
            reason: Some(
                "A 2703(d) order reaches non-content records only; narrowed to the three months the affidavit supports".into(),
            ),
        }
    }
}

/// A compliance lead's decision on the disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DisclosureDecision {
    /// Disclose the package.
    Approve,
    /// Withhold it (say why).
    Withhold,
}

/// The disclosure decision.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct DisclosureBody {
    /// Approve or withhold.
    pub decision: DisclosureDecision,
    /// Why (required to withhold).
    #[oai(validator(max_length = 4000))]
    pub reason: Option<String>,
}

impl Example for DisclosureBody {
    fn example() -> Self {
        Self {
            decision: DisclosureDecision::Approve,
            reason: Some("Package matches the approved scope".into()),
        }
    }
}

/// A post-review's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Finding {
    /// The emergency disclosure was justified.
    Sound,
    /// It was not (say why); recorded for counsel.
    Unsound,
}

/// The second person's review of an emergency disclosure.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct PostReviewBody {
    /// The finding.
    pub finding: Finding,
    /// Why (required when unsound).
    #[oai(validator(max_length = 4000))]
    pub reason: Option<String>,
}

impl Example for PostReviewBody {
    fn example() -> Self {
        Self {
            finding: Finding::Sound,
            reason: Some("Imminent threat documented in the officer's statement".into()),
        }
    }
}

/// What the authority clarified.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClarificationBody {
    /// What they said (or where it is filed).
    #[oai(validator(min_length = 1, max_length = 4000))]
    pub note: String,
}

impl Example for ClarificationBody {
    fn example() -> Self {
        Self {
            note: "The agency confirmed the account and limited the request to June to November"
                .into(),
        }
    }
}
