//! `privacy_requests`, `privacy_request_events` and `privacy_extensions`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::evidence::timeline::{self, Timeline};
use crate::security::visibility::InWorkspace;

/// A stored request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    /// Id.
    pub id: Uuid,
    /// The business account it concerns (`None`: a Meta user's callback request).
    pub workspace_id: Option<String>,
    /// The SHA-256 of the Meta user's app-scoped id, for a callback request.
    pub meta_user_sha256: Option<String>,
    /// What the requester looks the request up by on the public status page.
    pub confirmation_code: Option<String>,
    /// `deletion`, `access` or `disconnect`.
    pub kind: String,
    /// `controller` or `processor`.
    pub mode: String,
    /// The customer it is about (`None`: the business account, or erased).
    pub customer: Option<String>,
    /// The customer's SHA-256 (stays after erasure).
    pub customer_sha256: Option<String>,
    /// Who asked (erased with the customer's data on a deletion).
    pub requester_name: Option<String>,
    /// How to reach them.
    pub requester_contact: Option<String>,
    /// Their relation to the subject.
    pub requester_relation: String,
    /// `gdpr`, `ccpa` or `other`.
    pub jurisdiction: String,
    /// How the request came in.
    pub channel: String,
    /// Intake notes.
    pub notes: Option<String>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When receipt must be acknowledged by.
    pub acknowledge_by: Option<NaiveDate>,
    /// When the response is due.
    pub due_on: NaiveDate,
    /// Extensions so far.
    pub extensions: i32,
    /// Where it stands.
    pub status: String,
    /// Its run.
    pub run_id: Option<Uuid>,
    /// Who filed it (person handle).
    pub filed_by: String,
    /// How the requester was verified.
    pub verification_method: Option<String>,
    /// When.
    pub verified_at: Option<DateTime<Utc>>,
    /// Why it was denied.
    pub denial_reason: Option<String>,
    /// The holds it waits for.
    pub hold_ids: Vec<Uuid>,
    /// The receipts of its execution.
    pub receipts: Option<Value>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl InWorkspace for RequestRow {
    fn workspace(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }
}

const COLUMNS: &str = "id, workspace_id, meta_user_sha256, confirmation_code, kind, mode, customer, customer_sha256, requester_name,
    requester_contact, requester_relation, jurisdiction, channel, notes, received_at,
    acknowledge_by, due_on, extensions, status, run_id, filed_by, verification_method,
    verified_at, denial_reason, hold_ids, receipts, closed_at";

/// Stores a new request.
pub async fn insert(conn: &mut PgConnection, row: &RequestRow) -> sqlx::Result<RequestRow> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "insert into privacy_requests (id, workspace_id, kind, mode, customer, customer_sha256,
             requester_name, requester_contact, requester_relation, jurisdiction, channel,
             notes, received_at, acknowledge_by, due_on, status, filed_by,
             verification_method, verified_at, meta_user_sha256, confirmation_code)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19, $20, $21)
         returning {COLUMNS}"
    )))
    .bind(row.id)
    .bind(&row.workspace_id)
    .bind(&row.kind)
    .bind(&row.mode)
    .bind(&row.customer)
    .bind(&row.customer_sha256)
    .bind(&row.requester_name)
    .bind(&row.requester_contact)
    .bind(&row.requester_relation)
    .bind(&row.jurisdiction)
    .bind(&row.channel)
    .bind(&row.notes)
    .bind(row.received_at)
    .bind(row.acknowledge_by)
    .bind(row.due_on)
    .bind(&row.status)
    .bind(&row.filed_by)
    .bind(&row.verification_method)
    .bind(row.verified_at)
    .bind(&row.meta_user_sha256)
    .bind(&row.confirmation_code)
    .fetch_one(conn)
    .await
}

/// One request.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from privacy_requests where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The request with this confirmation code.
pub async fn by_confirmation_code(
    conn: &mut PgConnection,
    code: &str,
) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from privacy_requests where confirmation_code = $1"
    )))
    .bind(code)
    .fetch_optional(conn)
    .await
}

/// The open request of the Meta user with this digest, if any.
pub async fn open_for_meta_user(
    conn: &mut PgConnection,
    digest: &str,
) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from privacy_requests
         where meta_user_sha256 = $1 and closed_at is null order by id desc limit 1"
    )))
    .bind(digest)
    .fetch_optional(conn)
    .await
}

/// One request, locked for the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from privacy_requests where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter<'a> {
    /// Only this workspace's.
    pub workspace_id: Option<&'a str>,
    /// Only of this kind.
    pub kind: Option<&'a str>,
    /// Only in this status.
    pub status: Option<&'a str>,
    /// Only open requests due on or before this day.
    pub due_before: Option<NaiveDate>,
    /// Only requests older than this one (the cursor).
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Requests matching `filter`, newest first.
pub async fn list(
    conn: &mut PgConnection,
    filter: &RequestFilter<'_>,
) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from privacy_requests
         where ($1::text is null or workspace_id = $1)
           and ($2::text is null or kind = $2)
           and ($3::text is null or status = $3)
           and ($4::date is null or (closed_at is null and due_on <= $4))
           and ($5::uuid is null or id < $5)
         order by id desc limit $6"
    )))
    .bind(filter.workspace_id)
    .bind(filter.kind)
    .bind(filter.status)
    .bind(filter.due_before)
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(conn)
    .await
}

/// Open requests by due day, the earliest first (`workspace`: only its own).
pub async fn open_by_due(
    conn: &mut PgConnection,
    workspace: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from privacy_requests
         where closed_at is null and ($1::text is null or workspace_id = $1)
         order by due_on, id limit $2"
    )))
    .bind(workspace)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records the request's run.
pub async fn set_run(conn: &mut PgConnection, id: Uuid, run_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("update privacy_requests set run_id = $2 where id = $1 and run_id is null")
        .bind(id)
        .bind(run_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Requests filed at least `age` ago whose run was never started (the process stopped
/// between storing a request and starting its run).
pub async fn without_run(conn: &mut PgConnection, age_seconds: f64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select id from privacy_requests
         where run_id is null and closed_at is null
           and created_at < now() - make_interval(secs => $1)
         order by id limit 100",
    )
    .bind(age_seconds)
    .fetch_all(conn)
    .await
}

/// Moves a request to `status`; returns whether it changed.
pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update privacy_requests set status = $2 where id = $1 and status <> $2 and closed_at is null",
    )
    .bind(id)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records what an execution did: its receipts and the holds it waits for.
pub async fn set_outcome(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    receipts: &Value,
    hold_ids: &[Uuid],
) -> sqlx::Result<()> {
    sqlx::query(
        "update privacy_requests set status = $2, receipts = $3, hold_ids = $4
         where id = $1 and closed_at is null",
    )
    .bind(id)
    .bind(status)
    .bind(receipts)
    .bind(hold_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes a request in `status` (with the denial reason, if denied); on a deletion the
/// customer's number and the requester's name and contact are erased from the record
/// (their SHA-256 stays). Returns whether it was still open.
pub async fn close(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    denial_reason: Option<&str>,
    erase_subject: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update privacy_requests
         set status = $2, denial_reason = $3, closed_at = now(),
             customer = case when $4 then null else customer end,
             requester_name = case when $4 then null else requester_name end,
             requester_contact = case when $4 then null else requester_contact end
         where id = $1 and closed_at is null",
    )
    .bind(id)
    .bind(status)
    .bind(denial_reason)
    .bind(erase_subject)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a verification.
pub async fn set_verified(
    conn: &mut PgConnection,
    id: Uuid,
    method: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update privacy_requests set verification_method = $2, verified_at = $3 where id = $1",
    )
    .bind(id)
    .bind(method)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One entry of a request's timeline.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened (`filed`, `verified`, `reviewed`, ...).
    pub kind: String,
    /// Who (person handle, or the service).
    pub actor: String,
    /// Ids, rules and reasons.
    pub detail: Value,
}

/// Adds an entry to a request's timeline, with its ledger entry
/// ([`crate::evidence::timeline`]).
pub async fn add_event(
    conn: &mut PgConnection,
    id: Uuid,
    kind: &str,
    actor: &str,
    detail: &Value,
) -> sqlx::Result<()> {
    timeline::record(conn, Timeline::Privacy, id, kind, actor, detail, json!({})).await?;
    Ok(())
}

/// Adds an entry of `kind` to a request's timeline unless it has one already (a step
/// repeated after a crash records its decision once).
pub async fn add_event_once(
    conn: &mut PgConnection,
    id: Uuid,
    kind: &str,
    actor: &str,
    detail: &Value,
) -> sqlx::Result<()> {
    if !timeline::has(&mut *conn, Timeline::Privacy, id, kind).await? {
        add_event(conn, id, kind, actor, detail).await?;
    }
    Ok(())
}

/// A request's timeline, oldest first.
pub async fn events(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as::<_, EventRow>(
        "select at, kind, actor, detail from privacy_request_events
         where request_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// A stored extension.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExtensionRow {
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
    /// Who extended.
    pub extended_by: String,
    /// When.
    pub extended_at: DateTime<Utc>,
}

/// A request's extensions, in order.
pub async fn extensions(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<ExtensionRow>> {
    sqlx::query_as::<_, ExtensionRow>(
        "select seq, from_due, to_due, reason, notice_at, extended_by, extended_at
         from privacy_extensions where request_id = $1 order by seq",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Records an extension and moves the request's due day.
pub async fn extend(
    conn: &mut PgConnection,
    id: Uuid,
    extension: &ExtensionRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into privacy_extensions
             (request_id, seq, from_due, to_due, reason, notice_at, extended_by, extended_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(extension.seq)
    .bind(extension.from_due)
    .bind(extension.to_due)
    .bind(&extension.reason)
    .bind(extension.notice_at)
    .bind(&extension.extended_by)
    .bind(extension.extended_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update privacy_requests set due_on = $2, extensions = $3 where id = $1")
        .bind(id)
        .bind(extension.to_due)
        .bind(extension.seq)
        .execute(conn)
        .await?;
    Ok(())
}

/// Open requests by kind and SLA state (`on_track`, `due_soon`, `overdue`), computed as
/// [`crate::privacy::deadlines::sla_state`] does: due at the end of the due day (UTC).
pub async fn open_by_sla(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "with open as (
             select kind, (due_on + time '23:59:59') at time zone 'UTC' as due_at
             from privacy_requests where closed_at is null
         )
         select kind,
                case when now() > due_at then 'overdue'
                     when now() >= due_at - interval '7 days' then 'due_soon'
                     else 'on_track' end as sla,
                count(*)::int8
         from open group by 1, 2 order by 1, 2",
    )
    .fetch_all(conn)
    .await
}
