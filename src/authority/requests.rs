//! Authority request commands: file a request (stored, recorded and its run started),
//! read one with its timeline, package and notices, list them. The review and the
//! approvals that follow are in [`super::decisions`]. Requests belong to no workspace:
//! only staff whose keys see every workspace read or file them (the one visibility rule,
//! [`crate::security::visibility`]). The API and the console call these, never the store.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::instruments::Instrument;
use super::scope::{Scope, ScopeInput};
use super::store::disclosures;
pub use super::store::disclosures::{NoticeRow, PackageRow};
use super::store::requests::{self as store, NewRow, RequestFilter};
pub use super::store::requests::{EventRow, RequestRow};
use super::{WORKFLOW, timeline};
use crate::engine::commands::runs::{IdempotencyKey, StartRun};
use crate::engine::{Engine, EngineError, InputProblem};
use crate::security::Caller;
pub use crate::store::ids::AuthorityRequestId;

/// A document served with a request: its name and the SHA-256 of the file.
#[derive(Debug, Clone)]
pub struct Document {
    /// File name.
    pub name: String,
    /// SHA-256 (hex) of the file.
    pub sha256: String,
}

/// A request to file.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Who asks (agency, court).
    pub authority: String,
    /// Under which law.
    pub jurisdiction: String,
    /// The instrument's wire name.
    pub instrument: String,
    /// The authority's reference.
    pub reference: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// What it asks for.
    pub requested_scope: ScopeInput,
    /// Whether a nondisclosure order came with it.
    pub nondisclosure_ordered: bool,
    /// Until when.
    pub nondisclosure_until: Option<DateTime<Utc>>,
    /// The documents served.
    pub documents: Vec<Document>,
    /// When the authority wants an answer.
    pub due_at: Option<DateTime<Utc>>,
    /// Who receives a disclosure (default: the authority).
    pub recipient: Option<String>,
}

/// Why an authority request command was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request breaks a rule; every problem, located.
    #[error("invalid authority request")]
    Invalid(Vec<InputProblem>),
    /// No such request (or not visible to the caller).
    #[error("authority request {0} not found")]
    NotFound(Uuid),
    /// A key confined to one workspace cannot file or decide authority requests.
    #[error(
        "authority requests are handled by staff whose keys see every workspace; this key is confined to one"
    )]
    Confined,
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

impl From<crate::lifecycle::holds::HoldError> for RequestError {
    fn from(error: crate::lifecycle::holds::HoldError) -> Self {
        use crate::lifecycle::holds::HoldError;
        match error {
            HoldError::Invalid(problems) => RequestError::Invalid(problems),
            HoldError::Conflict(rule, detail) => RequestError::Conflict(rule, detail),
            HoldError::Engine(error) => RequestError::Engine(error),
            HoldError::Database(error) => RequestError::Database(error),
            other => RequestError::Conflict("hold", other.to_string()),
        }
    }
}

pub(super) fn at(pointer: &str, message: impl Into<String>) -> InputProblem {
    InputProblem {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// Only unconfined staff handle authority requests.
pub(super) fn unconfined(caller: &Caller) -> Result<(), RequestError> {
    if caller.workspace_id.is_some() {
        return Err(RequestError::Confined);
    }
    Ok(())
}

fn validate(request: &NewRequest, now: DateTime<Utc>) -> Result<Scope, Vec<InputProblem>> {
    let mut problems = Vec::new();
    if Instrument::parse(&request.instrument).is_none() {
        problems.push(at(
            "/instrument",
            format!(
                "unknown instrument `{}`; one of {}",
                request.instrument,
                Instrument::NAMES.join(", ")
            ),
        ));
    }
    for (pointer, text) in [
        ("/authority", &request.authority),
        ("/jurisdiction", &request.jurisdiction),
        ("/reference", &request.reference),
    ] {
        if text.trim().is_empty() {
            problems.push(at(pointer, "must not be blank"));
        }
    }
    if request.received_at > now + chrono::Duration::minutes(5) {
        problems.push(at(
            "/received_at",
            "a request cannot be received in the future",
        ));
    }
    match (request.nondisclosure_ordered, request.nondisclosure_until) {
        (false, Some(_)) => problems.push(at(
            "/nondisclosure/until",
            "an end date needs an order: set `ordered` to true",
        )),
        (true, Some(until)) if until <= now => problems.push(at(
            "/nondisclosure/until",
            "the nondisclosure order's end is in the past: file it without an order, or with its real end",
        )),
        _ => {}
    }
    for (index, document) in request.documents.iter().enumerate() {
        if document.name.trim().is_empty() {
            problems.push(at(&format!("/documents/{index}/name"), "must not be blank"));
        }
        let hex = document.sha256.len() == 64
            && document
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            problems.push(at(
                &format!("/documents/{index}/sha256"),
                "the file's SHA-256: 64 lower-case hex digits",
            ));
        }
    }
    let scope = Scope::parse(&request.requested_scope, "/requested_scope");
    match scope {
        Ok(scope) if problems.is_empty() => Ok(scope),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// Files a request: stores it with its first timeline entry (and that entry's ledger
/// entry) and starts its run.
#[tracing::instrument(name = "file_authority_request", skip_all)]
pub async fn file(
    engine: &Engine,
    caller: &Caller,
    request: &NewRequest,
) -> Result<RequestRow, RequestError> {
    unconfined(caller)?;
    let now = Utc::now();
    let scope = validate(request, now).map_err(RequestError::Invalid)?;
    let mut tx = engine.pool().begin().await?;
    if let Some(workspaces) = &scope.workspaces {
        let mut missing = Vec::new();
        for (index, workspace) in workspaces.iter().enumerate() {
            if crate::store::workspace_refs::open(&mut tx, workspace)
                .await?
                .is_none()
            {
                missing.push(at(
                    &format!("/requested_scope/workspaces/{index}"),
                    format!("no workspace `{workspace}`"),
                ));
            }
        }
        if !missing.is_empty() {
            return Err(RequestError::Invalid(missing));
        }
    }
    let documents = json!(
        request
            .documents
            .iter()
            .map(|d| json!({ "name": d.name, "sha256": d.sha256 }))
            .collect::<Vec<_>>()
    );
    let requested = scope.json();
    let row = store::insert(
        &mut tx,
        &NewRow {
            id: AuthorityRequestId::new().uuid(),
            authority: request.authority.trim(),
            jurisdiction: request.jurisdiction.trim(),
            instrument: &request.instrument,
            reference: request.reference.trim(),
            received_at: request.received_at,
            due_at: request.due_at,
            requested_scope: &requested,
            nondisclosure_ordered: request.nondisclosure_ordered,
            nondisclosure_until: request.nondisclosure_until,
            documents: &documents,
            recipient: request
                .recipient
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .unwrap_or(request.authority.trim()),
            filed_by: &caller.person,
        },
    )
    .await?;
    timeline::record(
        &mut tx,
        row.id,
        "filed",
        &caller.person,
        json!({
            "authority": row.authority, "jurisdiction": row.jurisdiction,
            "instrument": row.instrument, "reference": row.reference,
            "received_at": row.received_at, "due_at": row.due_at,
            "requested_scope": row.requested_scope,
            "nondisclosure": { "ordered": row.nondisclosure_ordered, "until": row.nondisclosure_until },
            "documents": row.documents, "recipient": row.recipient,
        }),
        json!({ "instrument": row.instrument }),
    )
    .await?;
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
            // Like the request, its run belongs to no workspace: confined keys never see it.
            workspace_id: None,
            idempotency_key: Some(IdempotencyKey::service(format!(
                "authority-request:{}",
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

/// Starts the runs of requests older than `grace_seconds` stored without one (the process
/// stopped between storing and starting); returns how many were started.
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
    /// Its package (manifest and hash; files while they may be fetched).
    pub package: Option<PackageRow>,
    /// The notices to the businesses concerned.
    pub notices: Vec<NoticeRow>,
}

/// The request, if the caller may see it.
pub(super) async fn visible(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<RequestRow, RequestError> {
    caller
        .visible(store::get(conn, id).await?)
        .ok_or(RequestError::NotFound(id))
}

/// One request the caller may see.
pub async fn get(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: AuthorityRequestId,
) -> Result<RequestDetail, RequestError> {
    let mut conn = pool.acquire().await?;
    let request = visible(&mut conn, caller, id.uuid()).await?;
    let timeline = store::events(&mut conn, request.id).await?;
    let package = disclosures::package(&mut conn, request.id).await?;
    let notices = disclosures::notices_of(&mut conn, request.id).await?;
    Ok(RequestDetail {
        request,
        timeline,
        package,
        notices,
    })
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    /// Only this instrument.
    pub instrument: Option<String>,
    /// Only in this status.
    pub status: Option<String>,
    /// The cursor: requests older than this one.
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Requests the caller may see (a confined key: none), newest first.
pub async fn list(
    pool: &sqlx::PgPool,
    caller: &Caller,
    query: &RequestQuery,
) -> Result<Vec<RequestRow>, RequestError> {
    if caller.workspace_id.is_some() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    Ok(store::list(
        &mut conn,
        &RequestFilter {
            instrument: query.instrument.as_deref(),
            status: query.status.as_deref(),
            before: query.before,
            limit: query.limit,
        },
    )
    .await?)
}

/// Open requests by the answer date asked for (a confined key: none).
pub async fn open_by_due(
    pool: &sqlx::PgPool,
    caller: &Caller,
    limit: i64,
) -> Result<Vec<RequestRow>, RequestError> {
    if caller.workspace_id.is_some() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    Ok(store::open_by_due(&mut conn, limit).await?)
}

/// The package's files, once the disclosure is approved and while the window is open.
pub async fn package_files(
    pool: &sqlx::PgPool,
    caller: &Caller,
    id: AuthorityRequestId,
) -> Result<(Value, Value), RequestError> {
    let mut conn = pool.acquire().await?;
    let request = visible(&mut conn, caller, id.uuid()).await?;
    let not_yet = || {
        RequestError::Conflict(
            "not-approved",
            format!(
                "authority request {} is {}: its package is produced only once a compliance lead approved the disclosure",
                request.id, request.status
            ),
        )
    };
    if request.disclosed_at.is_none() {
        return Err(not_yet());
    }
    let package = disclosures::package(&mut conn, request.id)
        .await?
        .ok_or_else(not_yet)?;
    let files = package.files.ok_or_else(|| {
        RequestError::Conflict(
            "package-removed",
            "the package's files were removed when its download window closed; the manifest stays"
                .into(),
        )
    })?;
    Ok((package.manifest, files))
}

/// The notices sent to the businesses the caller may see (`workspace`: only that one's),
/// newest first: how a business learns that its data was disclosed.
pub async fn notices(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: Option<&str>,
    limit: i64,
) -> Result<Vec<NoticeRow>, RequestError> {
    use crate::security::ListScope;
    let workspace = match caller.list_scope(workspace) {
        ListScope::Nothing => return Ok(Vec::new()),
        ListScope::All => None,
        ListScope::Workspace(id) => Some(id),
    };
    let mut conn = pool.acquire().await?;
    Ok(disclosures::sent_to(&mut conn, workspace.as_deref(), limit).await?)
}
