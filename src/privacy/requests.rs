//! Privacy request commands: file a request (stored, audited and its run started), read
//! one with its timeline and extensions, list them, decide its review or second approval.
//! Deadlines are extended in [`super::extensions`], responses recorded in
//! [`super::responses`], Meta's callback requests filed in [`super::meta_requests`]. The
//! API and the console call these, never the store.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::deadlines::{self, Jurisdiction, SlaState};
use super::store::requests::{self as store, RequestFilter};
pub use super::store::requests::{EventRow, ExtensionRow, RequestRow};
use super::{DENIAL_REASONS, WORKFLOW};
use crate::engine::commands::decisions::Decision;
use crate::engine::commands::runs::{IdempotencyKey, StartRun};
use crate::engine::{Engine, EngineError, InputProblem, RunId};
use crate::lifecycle::holds::normalise_customer;
use crate::security::audit::{self, AuditEntry};
use crate::security::{Caller, ListScope};
pub use crate::store::ids::PrivacyRequestId;

/// The kinds of request.
pub const KINDS: [&str; 3] = ["deletion", "access", "disconnect"];

/// The kinds this version executes (any other is refused at intake, storing nothing).
pub const EXECUTED_KINDS: [&str; 3] = ["deletion", "access", "disconnect"];

/// The customer a request is about, as given.
#[derive(Debug, Clone, Default)]
pub struct CustomerRef {
    /// WhatsApp id.
    pub wa_id: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

/// Who asks.
#[derive(Debug, Clone)]
pub struct Requester {
    /// Name.
    pub name: String,
    /// How to reach them.
    pub contact: String,
    /// Their relation to the subject (owner, customer, lawyer, ...).
    pub relation: String,
}

/// A request to file.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// `deletion`, `access` or `disconnect`.
    pub kind: String,
    /// The business account.
    pub workspace_id: String,
    /// The customer, for a request about one.
    pub customer: Option<CustomerRef>,
    /// Who asks.
    pub requester: Requester,
    /// `gdpr`, `ccpa` or `other`.
    pub jurisdiction: String,
    /// When it was received (default: now).
    pub received_at: Option<DateTime<Utc>>,
    /// How it came in.
    pub channel: String,
    /// Intake notes.
    pub notes: Option<String>,
}

/// Why a privacy request command was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request breaks a rule; every problem, located.
    #[error("invalid privacy request")]
    Invalid(Vec<InputProblem>),
    /// No such request (or not visible to the caller).
    #[error("privacy request {0} not found")]
    NotFound(Uuid),
    /// The workspace does not exist (or is not visible to the caller).
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(String),
    /// The request's state does not allow it: the rule, and why.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The engine refused (its policy, a missing workflow).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub(super) fn at(pointer: &str, message: impl Into<String>) -> InputProblem {
    InputProblem {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// A fresh confirmation code: what a requester looks their request up by (16 hex).
pub(super) fn confirmation_code() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(super) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The customer's `wa_id`, checked.
fn customer_wa_id(customer: &CustomerRef, problems: &mut Vec<InputProblem>) -> Option<String> {
    let (pointer, text) = match (&customer.wa_id, &customer.phone) {
        (Some(wa_id), _) => ("/subject/customer/wa_id", wa_id),
        (None, Some(phone)) => ("/subject/customer/phone", phone),
        (None, None) => {
            problems.push(at(
                "/subject/customer",
                "a customer is named by `wa_id` or `phone`",
            ));
            return None;
        }
    };
    let wa_id = normalise_customer(text);
    if wa_id.is_none() {
        problems.push(at(
            pointer,
            "not a phone number: 6 to 15 digits, optionally with a leading +",
        ));
    }
    wa_id
}

fn validate(request: &NewRequest, now: DateTime<Utc>) -> Result<Option<String>, Vec<InputProblem>> {
    let mut problems = Vec::new();
    if !KINDS.contains(&request.kind.as_str()) {
        problems.push(at("/kind", format!("one of {}", KINDS.join(", "))));
    } else if !EXECUTED_KINDS.contains(&request.kind.as_str()) {
        problems.push(at(
            "/kind",
            format!(
                "{} requests are not handled by this version yet (handled: {})",
                request.kind,
                EXECUTED_KINDS.join(", ")
            ),
        ));
    }
    if Jurisdiction::parse(&request.jurisdiction).is_none() {
        problems.push(at(
            "/jurisdiction",
            format!("one of {}", Jurisdiction::NAMES.join(", ")),
        ));
    }
    let customer = request
        .customer
        .as_ref()
        .and_then(|customer| customer_wa_id(customer, &mut problems));
    if request.kind == "disconnect" && request.customer.is_some() {
        problems.push(at(
            "/subject/customer",
            "a disconnect concerns a whole business account, not a customer",
        ));
    }
    if request
        .received_at
        .is_some_and(|received| received > now + chrono::Duration::minutes(5))
    {
        problems.push(at(
            "/received_at",
            "a request cannot be received in the future",
        ));
    }
    for (pointer, text) in [
        ("/requester/name", &request.requester.name),
        ("/requester/contact", &request.requester.contact),
        ("/requester/relation", &request.requester.relation),
        ("/channel", &request.channel),
    ] {
        if text.trim().is_empty() {
            problems.push(at(pointer, "must not be blank"));
        }
    }
    if problems.is_empty() {
        Ok(customer)
    } else {
        Err(problems)
    }
}

/// Files a request: stores it with its deadlines and first timeline entry, audits it and
/// starts its run. A request made with a key confined to the workspace it concerns is
/// the business instructing: verified at intake.
#[tracing::instrument(name = "file_privacy_request", skip_all)]
pub async fn file(
    engine: &Engine,
    caller: &Caller,
    request: &NewRequest,
) -> Result<RequestRow, RequestError> {
    let now = Utc::now();
    let workspace = caller
        .target_workspace(Some(request.workspace_id.clone()))
        .map_err(RequestError::WorkspaceNotFound)?
        .unwrap_or_default();
    let customer = validate(request, now).map_err(RequestError::Invalid)?;
    let jurisdiction = Jurisdiction::parse(&request.jurisdiction).unwrap_or(Jurisdiction::Other);
    let received_at = request.received_at.unwrap_or(now);
    let dates = deadlines::deadlines(jurisdiction, received_at.date_naive());
    let own_key = caller.workspace_id.as_deref() == Some(workspace.as_str());
    let mut tx = engine.pool().begin().await?;
    if crate::store::workspace_refs::open(&mut tx, &workspace)
        .await?
        .is_none()
    {
        return Err(RequestError::WorkspaceNotFound(workspace));
    }
    let row = store::insert(
        &mut tx,
        &RequestRow {
            id: PrivacyRequestId::new().uuid(),
            workspace_id: Some(workspace.clone()),
            meta_user_sha256: None,
            confirmation_code: Some(confirmation_code()),
            kind: request.kind.clone(),
            mode: if customer.is_some() {
                "processor"
            } else {
                "controller"
            }
            .to_owned(),
            customer_sha256: customer.as_deref().map(sha256_hex),
            customer,
            requester_name: Some(request.requester.name.clone()),
            requester_contact: Some(request.requester.contact.clone()),
            requester_relation: request.requester.relation.clone(),
            jurisdiction: jurisdiction.as_str().to_owned(),
            channel: request.channel.clone(),
            notes: request.notes.clone(),
            received_at,
            acknowledge_by: dates.acknowledge_by,
            due_on: dates.due_on,
            extensions: 0,
            status: "received".to_owned(),
            run_id: None,
            filed_by: caller.person.clone(),
            verification_method: own_key.then(|| "workspace_key".to_owned()),
            verified_at: own_key.then_some(now),
            denial_reason: None,
            hold_ids: Vec::new(),
            receipts: None,
            closed_at: None,
        },
    )
    .await?;
    let detail = json!({
        "kind": row.kind, "mode": row.mode, "jurisdiction": row.jurisdiction,
        "subject": if row.customer.is_some() { "customer" } else { "workspace" },
        "due_on": row.due_on, "acknowledge_by": row.acknowledge_by,
    });
    store::add_event(&mut tx, row.id, "filed", &caller.person, &detail).await?;
    if own_key {
        let verified = json!({ "method": "workspace_key", "key_id": caller.key_id });
        store::add_event(&mut tx, row.id, "verified", &caller.person, &verified).await?;
    }
    let mut data = detail;
    data["request_id"] = json!(row.id);
    data["verification"] = json!(row.verification_method);
    let entry = AuditEntry::now(
        &caller.person,
        "privacy_request.filed",
        format!("privacy_request:{}", row.id),
        Some(&workspace),
        data,
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    start_run(engine, &row).await
}

/// Starts (or finds) the request's run and records it on the request.
pub(super) async fn start_run(
    engine: &Engine,
    row: &RequestRow,
) -> Result<RequestRow, RequestError> {
    let (run, _) = engine
        .start_run(StartRun {
            workflow: WORKFLOW.to_owned(),
            input: json!({ "request_id": row.id }),
            // The run belongs to no workspace, so erasing the workspace's runs never
            // waits for the run doing the erasing; the request carries the workspace.
            workspace_id: None,
            idempotency_key: Some(IdempotencyKey::service(format!(
                "privacy-request:{}",
                row.id
            ))),
            initiator: row.filed_by.clone(),
        })
        .await?;
    let mut conn = engine.pool().acquire().await?;
    store::set_run(&mut conn, row.id, run.id.uuid()).await?;
    store::get(&mut conn, row.id)
        .await?
        .ok_or(RequestError::NotFound(row.id))
}

/// Starts the runs of requests older than `grace_seconds` stored without one; returns
/// how many were started.
pub async fn start_missing_runs(
    engine: &Engine,
    grace_seconds: f64,
) -> Result<usize, RequestError> {
    let mut conn = engine.pool().acquire().await?;
    let ids = store::without_run(&mut conn, grace_seconds).await?;
    let mut started = 0;
    for id in ids {
        if let Some(row) = store::get(&mut conn, id).await? {
            start_run(engine, &row).await?;
            started += 1;
        }
    }
    Ok(started)
}

/// A request with everything that happened to it.
#[derive(Debug, Clone)]
pub struct RequestDetail {
    /// The request.
    pub request: RequestRow,
    /// Its timeline, oldest first.
    pub timeline: Vec<EventRow>,
    /// Its extensions, in order.
    pub extensions: Vec<ExtensionRow>,
    /// An access request's package: its manifest, and whether its files were deleted.
    pub package: Option<(serde_json::Value, bool)>,
}

/// One request the caller may see.
pub async fn get(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: PrivacyRequestId,
) -> Result<RequestDetail, RequestError> {
    let mut conn = pool.acquire().await?;
    let request = caller
        .visible(store::get(&mut conn, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    let timeline = store::events(&mut conn, request.id).await?;
    let extensions = store::extensions(&mut conn, request.id).await?;
    let package = super::store::packages::manifest(&mut conn, request.id)
        .await?
        .map(|(manifest, present)| (manifest, !present));
    Ok(RequestDetail {
        request,
        timeline,
        extensions,
        package,
    })
}

/// What a list of requests asks for.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    /// Only this workspace's.
    pub workspace_id: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// Only in this status.
    pub status: Option<String>,
    /// Only open requests due on or before this day.
    pub due_before: Option<NaiveDate>,
    /// The cursor: requests older than this one.
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Requests the caller may see, newest first.
pub async fn list(
    pool: &sqlx::PgPool,
    caller: &Caller,
    query: &RequestQuery,
) -> Result<Vec<RequestRow>, RequestError> {
    let workspace = match caller.list_scope(query.workspace_id.as_deref()) {
        ListScope::Nothing => return Ok(Vec::new()),
        ListScope::All => None,
        ListScope::Workspace(id) => Some(id),
    };
    let mut conn = pool.acquire().await?;
    Ok(store::list(
        &mut conn,
        &RequestFilter {
            workspace_id: workspace.as_deref(),
            kind: query.kind.as_deref(),
            status: query.status.as_deref(),
            due_before: query.due_before,
            before: query.before,
            limit: query.limit,
        },
    )
    .await?)
}

/// Open requests the caller may see, the earliest due first (the deadlines view).
pub async fn open_by_due(
    pool: &sqlx::PgPool,
    caller: &Caller,
    limit: i64,
) -> Result<Vec<RequestRow>, RequestError> {
    let workspace = match caller.list_scope(None) {
        ListScope::Nothing => return Ok(Vec::new()),
        ListScope::All => None,
        ListScope::Workspace(id) => Some(id),
    };
    let mut conn = pool.acquire().await?;
    Ok(store::open_by_due(&mut conn, workspace.as_deref(), limit).await?)
}

/// When a request is due, and where it stands against that (`None` once closed).
pub fn due(row: &RequestRow, now: DateTime<Utc>) -> (DateTime<Utc>, Option<SlaState>) {
    let due_at = deadlines::end_of(row.due_on);
    (
        due_at,
        row.closed_at
            .is_none()
            .then(|| deadlines::sla_state(due_at, now)),
    )
}

/// The approval steps a person decides on a request.
const DECISION_STEPS: [&str; 2] = ["review", "lead_approval"];

/// Decides the step the request waits at (its review, or its second approval): approve,
/// or deny with one of [`DENIAL_REASONS`] and optional free text. The engine's policy
/// decides who may: a refusal names its rule.
pub async fn decide(
    engine: &Engine,
    caller: &Caller,
    id: PrivacyRequestId,
    approve: bool,
    reason: Option<&str>,
    note: Option<&str>,
) -> Result<RequestDetail, RequestError> {
    let detail = get(engine.pool(), caller, id).await?;
    let row = &detail.request;
    let not_waiting = || {
        RequestError::Conflict(
            "not-awaiting-decision",
            format!(
                "privacy request {} is {}: nothing waits for a decision",
                row.id, row.status
            ),
        )
    };
    let run_id = row.run_id.ok_or_else(not_waiting)?;
    // The request says `in_review` (or `awaiting_second_approval`) from the task that
    // leads to the approval step; give the run a moment to get there.
    let run = engine
        .run_at_rest(RunId::from(run_id), std::time::Duration::from_secs(2))
        .await?;
    let step = run
        .current_step
        .as_deref()
        .filter(|step| DECISION_STEPS.contains(step) && !run.is_finished())
        .ok_or_else(not_waiting)?
        .to_owned();
    let text = match (approve, reason) {
        (true, _) => note.unwrap_or_default().to_owned(),
        (false, Some(code)) if DENIAL_REASONS.contains(&code) => match note {
            Some(note) if !note.trim().is_empty() => format!("{code}: {note}"),
            _ => code.to_owned(),
        },
        (false, _) => {
            return Err(RequestError::Invalid(vec![at(
                "/reason",
                format!("a denial names one of {}", DENIAL_REASONS.join(", ")),
            )]));
        }
    };
    let decision = if approve {
        Decision::Approve
    } else {
        Decision::Reject
    };
    // The caller may see the request (checked above); its run belongs to no workspace,
    // so the engine is shown the same person and role, unconfined, for this decision.
    let decider = Caller {
        workspace_id: None,
        ..caller.clone()
    };
    engine
        .decide_owned(RunId::from(run_id), &step, &decider, decision, &text)
        .await?;
    get(engine.pool(), caller, id).await
}

/// Open requests by kind and SLA state, for `/metrics`.
pub async fn open_by_sla(pool: &sqlx::PgPool) -> sqlx::Result<Vec<(String, String, i64)>> {
    let mut conn = pool.acquire().await?;
    store::open_by_sla(&mut conn).await
}
