//! `authority_requests` and `authority_request_events`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::evidence::timeline::{self, Timeline};
use crate::security::visibility::InWorkspace;

/// A stored request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    /// Id.
    pub id: Uuid,
    /// Who asks (agency, court).
    pub authority: String,
    /// Under which law (a country or state code, free text).
    pub jurisdiction: String,
    /// The legal instrument.
    pub instrument: String,
    /// The authority's own reference (case or docket number).
    pub reference: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When the authority wants an answer by.
    pub due_at: Option<DateTime<Utc>>,
    /// What it asks for.
    pub requested_scope: Value,
    /// What the review approved of it.
    pub approved_scope: Option<Value>,
    /// What the approval left out.
    pub narrowed: Option<Value>,
    /// Whether a nondisclosure order came with it.
    pub nondisclosure_ordered: bool,
    /// Until when it applies (`None` with an order: until lifted).
    pub nondisclosure_until: Option<DateTime<Utc>>,
    /// The documents served: `[{name, sha256}]`.
    pub documents: Value,
    /// Who receives a disclosure.
    pub recipient: String,
    /// Where it stands.
    pub status: String,
    /// How it ended.
    pub outcome: Option<String>,
    /// The review's verdict.
    pub verdict: Option<String>,
    /// Its reason.
    pub verdict_reason: Option<String>,
    /// Who reviewed it.
    pub reviewed_by: Option<String>,
    /// When.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The preservation holds placed for it.
    pub hold_ids: Vec<Uuid>,
    /// The package's SHA-256 (of its canonical manifest).
    pub package_sha256: Option<String>,
    /// Per category, the instrument and rule that allowed it.
    pub basis: Option<Value>,
    /// When it was disclosed.
    pub disclosed_at: Option<DateTime<Utc>>,
    /// Who approved the disclosure.
    pub disclosed_by: Option<String>,
    /// Its run.
    pub run_id: Option<Uuid>,
    /// Who filed it.
    pub filed_by: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// Requests from authorities belong to no workspace: only unconfined staff see them (a
/// business learns of one through its notice, never through the request).
impl InWorkspace for RequestRow {
    fn workspace(&self) -> Option<&str> {
        None
    }
}

const COLUMNS: &str = "id, authority, jurisdiction, instrument, reference, received_at, due_at,
    requested_scope, approved_scope, narrowed, nondisclosure_ordered, nondisclosure_until,
    documents, recipient, status, outcome, verdict, verdict_reason, reviewed_by, reviewed_at,
    hold_ids, package_sha256, basis, disclosed_at, disclosed_by, run_id, filed_by, created_at,
    closed_at";

/// What a new request stores.
#[derive(Debug, Clone)]
pub struct NewRow<'a> {
    /// Id.
    pub id: Uuid,
    /// Who asks.
    pub authority: &'a str,
    /// Under which law.
    pub jurisdiction: &'a str,
    /// The instrument.
    pub instrument: &'a str,
    /// Their reference.
    pub reference: &'a str,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// Answer wanted by.
    pub due_at: Option<DateTime<Utc>>,
    /// The requested scope.
    pub requested_scope: &'a Value,
    /// A nondisclosure order.
    pub nondisclosure_ordered: bool,
    /// Until when.
    pub nondisclosure_until: Option<DateTime<Utc>>,
    /// Documents served.
    pub documents: &'a Value,
    /// Who receives a disclosure.
    pub recipient: &'a str,
    /// Who filed it.
    pub filed_by: &'a str,
}

/// Stores a new request as `received`.
pub async fn insert(conn: &mut PgConnection, row: &NewRow<'_>) -> sqlx::Result<RequestRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into authority_requests (id, authority, jurisdiction, instrument, reference,
             received_at, due_at, requested_scope, nondisclosure_ordered, nondisclosure_until,
             documents, recipient, status, filed_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'received', $13)
         returning {COLUMNS}"
    )))
    .bind(row.id)
    .bind(row.authority)
    .bind(row.jurisdiction)
    .bind(row.instrument)
    .bind(row.reference)
    .bind(row.received_at)
    .bind(row.due_at)
    .bind(row.requested_scope)
    .bind(row.nondisclosure_ordered)
    .bind(row.nondisclosure_until)
    .bind(row.documents)
    .bind(row.recipient)
    .bind(row.filed_by)
    .fetch_one(conn)
    .await
}

/// One request.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from authority_requests where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// One request, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from authority_requests where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter<'a> {
    /// Only this instrument.
    pub instrument: Option<&'a str>,
    /// Only in this status.
    pub status: Option<&'a str>,
    /// Only requests older than this one.
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Requests, newest first.
pub async fn list(
    conn: &mut PgConnection,
    filter: &RequestFilter<'_>,
) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from authority_requests
         where ($1::text is null or instrument = $1)
           and ($2::text is null or status = $2)
           and ($3::uuid is null or (created_at, id) <
                (select created_at, id from authority_requests where id = $3))
         order by created_at desc, id desc limit $4"
    )))
    .bind(filter.instrument)
    .bind(filter.status)
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(conn)
    .await
}

/// Open requests by the answer date the authority asked for (those without one last).
pub async fn open_by_due(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from authority_requests where closed_at is null
         order by due_at nulls last, id limit $1"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Requests received in `[from, to)`, oldest first (the transparency report).
pub async fn received_between(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from authority_requests
         where received_at >= $1 and received_at < $2 order by received_at, id"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Requests stored more than `grace_seconds` ago without a run.
pub async fn without_run(conn: &mut PgConnection, grace_seconds: f64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select id from authority_requests
         where run_id is null and created_at < now() - make_interval(secs => $1)
         order by created_at limit 100",
    )
    .bind(grace_seconds)
    .fetch_all(conn)
    .await
}

/// Records the request's run.
pub async fn set_run(conn: &mut PgConnection, id: Uuid, run_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("update authority_requests set run_id = $2 where id = $1 and run_id is null")
        .bind(id)
        .bind(run_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves an open request to `status`.
pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: &str) -> sqlx::Result<()> {
    sqlx::query("update authority_requests set status = $2 where id = $1 and closed_at is null")
        .bind(id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}

/// A review's verdict and, when valid, the approved scope and what it left out.
#[derive(Debug, Clone)]
pub struct Review<'a> {
    /// `valid`, `invalid` or `needs_clarification`.
    pub verdict: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub reviewed_by: &'a str,
    /// The approved scope (valid only).
    pub approved_scope: Option<&'a Value>,
    /// What it left out (valid only).
    pub narrowed: Option<&'a Value>,
    /// The basis per approved category (valid only).
    pub basis: Option<&'a Value>,
}

/// Records a review.
pub async fn set_review(
    conn: &mut PgConnection,
    id: Uuid,
    review: &Review<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update authority_requests
         set verdict = $2, verdict_reason = $3, reviewed_by = $4, reviewed_at = now(),
             approved_scope = $5, narrowed = $6, basis = $7,
             status = case $2 when 'valid' then 'approved'
                              when 'invalid' then 'rejecting'
                              else 'needs_clarification' end
         where id = $1",
    )
    .bind(id)
    .bind(review.verdict)
    .bind(review.reason)
    .bind(review.reviewed_by)
    .bind(review.approved_scope)
    .bind(review.narrowed)
    .bind(review.basis)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the holds placed for the request.
pub async fn set_holds(conn: &mut PgConnection, id: Uuid, holds: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("update authority_requests set hold_ids = $2 where id = $1")
        .bind(id)
        .bind(holds)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the package's hash.
pub async fn set_package(conn: &mut PgConnection, id: Uuid, sha256: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update authority_requests set package_sha256 = $2, status = 'awaiting_disclosure_approval'
         where id = $1",
    )
    .bind(id)
    .bind(sha256)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the disclosure once; answers whether this call recorded it.
pub async fn set_disclosed(
    conn: &mut PgConnection,
    id: Uuid,
    disclosed_by: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update authority_requests set disclosed_at = now(), disclosed_by = $2, status = 'disclosed'
         where id = $1 and disclosed_at is null",
    )
    .bind(id)
    .bind(disclosed_by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes an open request with `outcome`; answers whether this call closed it.
pub async fn close(conn: &mut PgConnection, id: Uuid, outcome: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update authority_requests set status = 'closed', outcome = $2, closed_at = now()
         where id = $1 and closed_at is null",
    )
    .bind(id)
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One entry of a request's timeline.
pub use crate::evidence::timeline::TimelineEvent as EventRow;

/// Whether the request's timeline has an entry of `kind`.
pub async fn has_event(conn: &mut PgConnection, id: Uuid, kind: &str) -> sqlx::Result<bool> {
    timeline::has(conn, Timeline::Authority, id, kind).await
}

/// A request's timeline, oldest first.
pub async fn events(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<EventRow>> {
    timeline::events(conn, Timeline::Authority, id).await
}
