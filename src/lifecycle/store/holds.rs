//! `legal_holds`: holds, their scope and their life (placed, renewed, released, expired),
//! and the hold check every purge and erasure asks (`legal_holds_covering`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::security::visibility::InWorkspace;
use crate::store::ids::HoldId;

/// A stored hold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HoldRow {
    /// Id.
    pub id: Uuid,
    /// `litigation`, `regulatory` or `preservation`.
    pub kind: String,
    /// Workspace covered (`None`: every workspace).
    pub workspace_id: Option<String>,
    /// Customers (`wa_id`s) covered (`None`: every customer).
    pub customers: Option<Vec<String>>,
    /// Data-map categories covered (`None`: every category).
    pub categories: Option<Vec<String>>,
    /// Records from this instant on.
    pub from_at: Option<DateTime<Utc>>,
    /// Records up to this instant.
    pub to_at: Option<DateTime<Utc>>,
    /// Why.
    pub reason: String,
    /// The matter it is for (case number, authority reference).
    pub matter_ref: String,
    /// Who placed it (person handle).
    pub placed_by: String,
    /// When.
    pub placed_at: DateTime<Utc>,
    /// When it stops holding, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Renewals so far (a preservation hold may be renewed once).
    pub renewals: i32,
    /// `active`, `released` or `expired`.
    pub status: String,
    /// Release requests so far.
    pub release_requests: i32,
    /// The latest release run.
    pub release_run_id: Option<Uuid>,
    /// Who approved the release.
    pub released_by: Option<String>,
    /// When it was released.
    pub released_at: Option<DateTime<Utc>>,
}

impl InWorkspace for HoldRow {
    fn workspace(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }
}

/// A hold to store.
#[derive(Debug, Clone)]
pub struct NewHoldRow<'a> {
    /// Id.
    pub id: HoldId,
    /// Kind.
    pub kind: &'a str,
    /// Workspace.
    pub workspace_id: Option<&'a str>,
    /// Customers.
    pub customers: Option<&'a [String]>,
    /// Categories.
    pub categories: Option<&'a [String]>,
    /// From.
    pub from_at: Option<DateTime<Utc>>,
    /// To.
    pub to_at: Option<DateTime<Utc>>,
    /// Reason.
    pub reason: &'a str,
    /// Matter.
    pub matter_ref: &'a str,
    /// Placer.
    pub placed_by: &'a str,
    /// When (the instant its expiry is counted from).
    pub placed_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, workspace_id, customers, categories, from_at, to_at, reason, \
     matter_ref, placed_by, placed_at, expires_at, renewals, status, release_requests, \
     release_run_id, released_by, released_at";

/// Stores a new hold.
pub async fn insert(conn: &mut PgConnection, hold: &NewHoldRow<'_>) -> sqlx::Result<HoldRow> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "insert into legal_holds (id, kind, workspace_id, customers, categories, from_at, to_at,
                                  reason, matter_ref, placed_by, expires_at, placed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         returning {COLUMNS}"
    )))
    .bind(hold.id.uuid())
    .bind(hold.kind)
    .bind(hold.workspace_id)
    .bind(hold.customers)
    .bind(hold.categories)
    .bind(hold.from_at)
    .bind(hold.to_at)
    .bind(hold.reason)
    .bind(hold.matter_ref)
    .bind(hold.placed_by)
    .bind(hold.expires_at)
    .bind(hold.placed_at)
    .fetch_one(conn)
    .await
}

/// One hold.
pub async fn get(conn: &mut PgConnection, id: HoldId) -> sqlx::Result<Option<HoldRow>> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from legal_holds where id = $1"
    )))
    .bind(id.uuid())
    .fetch_optional(conn)
    .await
}

/// One hold, locked for a change.
pub async fn lock(conn: &mut PgConnection, id: HoldId) -> sqlx::Result<Option<HoldRow>> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from legal_holds where id = $1 for update"
    )))
    .bind(id.uuid())
    .fetch_optional(conn)
    .await
}

/// What a list of holds is filtered by.
#[derive(Debug, Clone, Default)]
pub struct HoldFilter<'a> {
    /// Only this workspace's holds.
    pub workspace_id: Option<&'a str>,
    /// Only holds in this status.
    pub status: Option<&'a str>,
    /// Only holds of this kind.
    pub kind: Option<&'a str>,
    /// Only holds older than this one (the cursor).
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Holds matching `filter`, newest first.
pub async fn list(conn: &mut PgConnection, filter: &HoldFilter<'_>) -> sqlx::Result<Vec<HoldRow>> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from legal_holds
         where ($1::text is null or workspace_id = $1)
           and ($2::text is null or status = $2)
           and ($3::text is null or kind = $3)
           and ($4::uuid is null or id < $4)
         order by id desc limit $5"
    )))
    .bind(filter.workspace_id)
    .bind(filter.status)
    .bind(filter.kind)
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(conn)
    .await
}

/// Extends a preservation hold's expiry once.
pub async fn renew(
    conn: &mut PgConnection,
    id: HoldId,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<HoldRow> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "update legal_holds set expires_at = $2, renewals = renewals + 1
         where id = $1 returning {COLUMNS}"
    )))
    .bind(id.uuid())
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

/// Records a release request's run.
pub async fn set_release_run(
    conn: &mut PgConnection,
    id: HoldId,
    run_id: Uuid,
) -> sqlx::Result<HoldRow> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "update legal_holds set release_run_id = $2, release_requests = release_requests + 1
         where id = $1 returning {COLUMNS}"
    )))
    .bind(id.uuid())
    .bind(run_id)
    .fetch_one(conn)
    .await
}

/// Releases an active hold; `None` when it was not active.
pub async fn release(
    conn: &mut PgConnection,
    id: HoldId,
    released_by: &str,
) -> sqlx::Result<Option<HoldRow>> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "update legal_holds set status = 'released', released_by = $2, released_at = now()
         where id = $1 and status = 'active' returning {COLUMNS}"
    )))
    .bind(id.uuid())
    .bind(released_by)
    .fetch_optional(conn)
    .await
}

/// Marks every active hold past its expiry as expired; returns them.
pub async fn expire_due(conn: &mut PgConnection) -> sqlx::Result<Vec<HoldRow>> {
    sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
        "update legal_holds set status = 'expired'
         where status = 'active' and expires_at <= now() returning {COLUMNS}"
    )))
    .fetch_all(conn)
    .await
}

/// The active holds covering a record of `category` of `workspace` about `customers`
/// (or mentioning one in `mentions`), timed `at`.
pub async fn covering(
    conn: &mut PgConnection,
    category: &str,
    workspace: Option<&str>,
    customers: &[String],
    mentions: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar::<_, Vec<Uuid>>("select legal_holds_covering($1, $2, $3, $4, $5)")
        .bind(category)
        .bind(workspace)
        .bind(customers)
        .bind(mentions)
        .bind(at)
        .fetch_one(conn)
        .await
}

/// Whether the run `run_id` is still under way.
pub async fn run_unfinished(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, bool>(
        "select exists (select 1 from runs where id = $1 and finished_at is null)",
    )
    .bind(run_id)
    .fetch_one(conn)
    .await
}

/// The people who approved the approval step `step_id` of run `run_id`.
pub async fn approvers(
    conn: &mut PgConnection,
    run_id: Uuid,
    step_id: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar::<_, String>(
        "select d.actor from step_decisions d
         join run_steps s on s.run_id = d.run_id and s.seq = d.seq
         where d.run_id = $1 and s.step_id = $2 and d.decision = 'approve'
         order by d.decided_at",
    )
    .bind(run_id)
    .bind(step_id)
    .fetch_all(conn)
    .await
}
