//! Legal holds: data that must not be purged or erased while a matter is open.
//!
//! A hold covers records by workspace, customers, data-map categories and a time range
//! (each left out covers everything along that axis, but a hold must name at least one).
//! Several holds may cover one record; it stays held until the last of them is released
//! or expires. Preservation holds (18 USC 2703(f)) last 90 days and may be renewed once
//! for 90 more; litigation and regulatory holds last until released. Release is a run of
//! `workflows/legal_hold_release.toml`, approved by a compliance lead other than the
//! placer (and other than whoever asked for the release). Placing, renewing, asking to
//! release, releasing and expiring are audited, with ids only (never the customers).

use chrono::{DateTime, Duration as Span, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::data_map::Category;
use super::store;
pub use super::store::holds::HoldRow;
use super::store::holds::{HoldFilter, NewHoldRow};
use crate::engine::commands::runs::{IdempotencyKey, StartRun};
use crate::engine::{Engine, EngineError, InputProblem};
use crate::security::audit::{self, AuditEntry};
use crate::security::{Caller, ListScope};
pub use crate::store::ids::HoldId;
use crate::store::ids::WorkspaceId;
use crate::store::runs::RunRow;

mod validation;
pub use validation::normalise_customer;
use validation::validate;

/// The workflow that releases a hold.
pub const RELEASE_WORKFLOW: &str = "legal_hold_release";

/// How long a preservation hold lasts, and how long its one renewal adds.
pub const PRESERVATION_PERIOD_DAYS: i64 = 90;

/// The kinds of hold.
pub const KINDS: [&str; 3] = ["litigation", "regulatory", "preservation"];

/// What a hold covers, as asked.
#[derive(Debug, Clone, Default)]
pub struct HoldScope {
    /// One workspace.
    pub workspace_id: Option<String>,
    /// Customers by `wa_id` or phone number.
    pub customers: Option<Vec<String>>,
    /// Data-map categories.
    pub categories: Option<Vec<String>>,
    /// Records from this instant on.
    pub from: Option<DateTime<Utc>>,
    /// Records up to this instant.
    pub to: Option<DateTime<Utc>>,
}

/// A hold to place.
#[derive(Debug, Clone)]
pub struct NewHold {
    /// `litigation`, `regulatory` or `preservation`.
    pub kind: String,
    /// What it covers.
    pub scope: HoldScope,
    /// Why.
    pub reason: String,
    /// The matter (case number, authority reference).
    pub matter_ref: String,
    /// When it stops holding (preservation: at most 90 days, the default).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a hold command was refused.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// The request breaks a rule; every problem, located.
    #[error("invalid legal hold")]
    Invalid(Vec<InputProblem>),
    /// No such hold (or not visible to the caller).
    #[error("legal hold {0} not found")]
    NotFound(uuid::Uuid),
    /// The named workspace does not exist (or is not visible to the caller).
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(String),
    /// The hold's state does not allow it; the rule, and why.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The engine refused (e.g. the release workflow is missing).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn audit_data(row: &HoldRow) -> serde_json::Value {
    json!({
        "hold_id": row.id,
        "kind": row.kind,
        "categories": row.categories,
        "customer_count": row.customers.as_ref().map(Vec::len),
        "from": row.from_at,
        "to": row.to_at,
        "expires_at": row.expires_at,
    })
}

fn subject(row: &HoldRow) -> String {
    format!("legal_hold:{}", row.id)
}

/// Places a hold.
#[tracing::instrument(name = "place_legal_hold", skip_all)]
pub async fn place(pool: &PgPool, caller: &Caller, hold: &NewHold) -> Result<HoldRow, HoldError> {
    let workspace = caller
        .target_workspace(hold.scope.workspace_id.clone())
        .map_err(HoldError::WorkspaceNotFound)?;
    let mut tx = pool.begin().await?;
    let row = place_in(&mut tx, &caller.person, workspace.as_deref(), hold).await?;
    tx.commit().await?;
    Ok(row)
}

/// Places a hold for `workspace` (already checked against the caller's scope) in the
/// caller's transaction, recorded under `actor`: an authority request places its
/// preservation holds with its own record of them, or neither.
pub async fn place_in(
    tx: &mut sqlx::PgConnection,
    actor: &str,
    workspace: Option<&str>,
    hold: &NewHold,
) -> Result<HoldRow, HoldError> {
    let now = Utc::now();
    let valid = validate(hold, now).map_err(HoldError::Invalid)?;
    if let Some(workspace) = workspace
        && crate::store::workspace_refs::open(&mut *tx, workspace)
            .await?
            .is_none()
    {
        return Err(HoldError::WorkspaceNotFound(workspace.to_owned()));
    }
    let expires_at = match (hold.kind.as_str(), hold.expires_at) {
        ("preservation", None) => Some(now + Span::days(PRESERVATION_PERIOD_DAYS)),
        (_, expires_at) => expires_at,
    };
    let row = store::holds::insert(
        &mut *tx,
        &NewHoldRow {
            id: HoldId::new(),
            kind: &hold.kind,
            workspace_id: workspace,
            customers: valid.customers.as_deref(),
            categories: valid.categories.as_deref(),
            from_at: hold.scope.from,
            to_at: hold.scope.to,
            reason: &hold.reason,
            matter_ref: &hold.matter_ref,
            placed_by: actor,
            placed_at: now,
            expires_at,
        },
    )
    .await?;
    let entry = AuditEntry::now(
        actor,
        "legal_hold.placed",
        subject(&row),
        row.workspace_id.as_deref(),
        audit_data(&row),
    );
    audit::append(&mut *tx, &[entry]).await?;
    Ok(row)
}

/// One hold the caller may see.
pub async fn get(pool: &PgPool, caller: &Caller, id: HoldId) -> Result<HoldRow, HoldError> {
    let mut conn = pool.acquire().await?;
    caller
        .visible(store::holds::get(&mut conn, id).await?)
        .ok_or(HoldError::NotFound(id.uuid()))
}

/// What a list of holds asks for.
#[derive(Debug, Clone, Default)]
pub struct HoldQuery {
    /// Only this workspace's.
    pub workspace_id: Option<String>,
    /// Only in this status.
    pub status: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// The cursor: holds older than this one.
    pub before: Option<uuid::Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Holds the caller may see, newest first.
pub async fn list(
    pool: &PgPool,
    caller: &Caller,
    query: &HoldQuery,
) -> Result<Vec<HoldRow>, HoldError> {
    let workspace = match caller.list_scope(query.workspace_id.as_deref()) {
        ListScope::Nothing => return Ok(Vec::new()),
        ListScope::All => None,
        ListScope::Workspace(id) => Some(id),
    };
    let mut conn = pool.acquire().await?;
    let rows = store::holds::list(
        &mut conn,
        &HoldFilter {
            workspace_id: workspace.as_deref(),
            status: query.status.as_deref(),
            kind: query.kind.as_deref(),
            before: query.before,
            limit: query.limit,
        },
    )
    .await?;
    // A confined key never sees holds of no workspace (the one visibility rule).
    Ok(rows
        .into_iter()
        .filter(|row| caller.sees(row.workspace_id.as_deref()))
        .collect())
}

fn still_holding(row: &HoldRow, now: DateTime<Utc>) -> Result<(), HoldError> {
    if row.status != "active" || row.expires_at.is_some_and(|at| at <= now) {
        return Err(HoldError::Conflict(
            "hold-not-active",
            format!(
                "legal hold {} is {} and holds nothing any more",
                row.id,
                if row.status == "active" {
                    "expired"
                } else {
                    &row.status
                }
            ),
        ));
    }
    Ok(())
}

/// Renews a preservation hold once, for 90 days from its current expiry.
pub async fn renew(pool: &PgPool, caller: &Caller, id: HoldId) -> Result<HoldRow, HoldError> {
    let mut tx = pool.begin().await?;
    let renewed = renew_in(&mut tx, caller, id).await?;
    tx.commit().await?;
    Ok(renewed)
}

/// Like [`renew`], in the caller's transaction.
pub async fn renew_in(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    id: HoldId,
) -> Result<HoldRow, HoldError> {
    let now = Utc::now();
    let row = caller
        .visible(store::holds::lock(&mut *tx, id).await?)
        .ok_or(HoldError::NotFound(id.uuid()))?;
    still_holding(&row, now)?;
    if row.kind != "preservation" {
        return Err(HoldError::Conflict(
            "hold-not-renewable",
            format!(
                "only preservation holds are renewed; a {} hold lasts until it is released",
                row.kind
            ),
        ));
    }
    if row.renewals >= 1 {
        return Err(HoldError::Conflict(
            "hold-already-renewed",
            "a preservation hold may be renewed once (90 days + 90 days); place a litigation or regulatory hold to keep the data longer".into(),
        ));
    }
    let old = row.expires_at.unwrap_or(now);
    let renewed =
        store::holds::renew(&mut *tx, id, old + Span::days(PRESERVATION_PERIOD_DAYS)).await?;
    let mut data = audit_data(&renewed);
    data["previous_expires_at"] = json!(old);
    let entry = AuditEntry::now(
        &caller.person,
        "legal_hold.renewed",
        subject(&renewed),
        renewed.workspace_id.as_deref(),
        data,
    );
    audit::append(&mut *tx, &[entry]).await?;
    Ok(renewed)
}

/// Releases a hold in the caller's transaction, audited under `released_by` with
/// `data`, and wakes the runs waiting for holds; `None` when it had been released or had
/// expired already.
pub async fn release_in(
    tx: &mut sqlx::PgConnection,
    id: HoldId,
    released_by: &str,
    mut data: serde_json::Value,
) -> sqlx::Result<Option<HoldRow>> {
    let Some(released) = store::holds::release(&mut *tx, id, released_by).await? else {
        return Ok(None);
    };
    data["hold_id"] = json!(id);
    let entry = AuditEntry::now(
        released_by,
        "legal_hold.released",
        subject(&released),
        released.workspace_id.as_deref(),
        data,
    );
    audit::append(&mut *tx, &[entry]).await?;
    store::hold_waits::announce(&mut *tx).await?;
    Ok(Some(released))
}

/// Asks for a hold's release: starts its release run (or answers the one under way).
pub async fn request_release(
    engine: &Engine,
    caller: &Caller,
    id: HoldId,
    reason: &str,
) -> Result<(HoldRow, RunRow), HoldError> {
    let now = Utc::now();
    let mut conn = engine.pool().acquire().await?;
    let row = caller
        .visible(store::holds::get(&mut conn, id).await?)
        .ok_or(HoldError::NotFound(id.uuid()))?;
    still_holding(&row, now)?;
    if let Some(run_id) = row.release_run_id
        && store::holds::run_unfinished(&mut conn, run_id).await?
    {
        return Err(HoldError::Conflict(
            "release-pending",
            format!(
                "the release of legal hold {id} is already waiting for approval in run {run_id}"
            ),
        ));
    }
    drop(conn);
    let workspace = row
        .workspace_id
        .as_deref()
        .map(WorkspaceId::parse)
        .transpose()
        .map_err(|_| HoldError::NotFound(id.uuid()))?;
    // Concurrent requests derive the same key: one run, whoever asks.
    let key = format!("legal-hold-release:{id}:{}", row.release_requests + 1);
    let (run, _) = engine
        .start_run(StartRun {
            workflow: RELEASE_WORKFLOW.to_owned(),
            input: json!({ "hold_id": id, "reason": reason }),
            workspace_id: workspace,
            idempotency_key: Some(IdempotencyKey::service(key)),
            initiator: caller.person.clone(),
        })
        .await?;
    let mut tx = engine.pool().begin().await?;
    let locked = store::holds::lock(&mut tx, id)
        .await?
        .ok_or(HoldError::NotFound(id.uuid()))?;
    let updated = if locked.release_run_id == Some(run.id.uuid()) {
        locked
    } else {
        let updated = store::holds::set_release_run(&mut tx, id, run.id.uuid()).await?;
        let mut data = audit_data(&updated);
        data["run_id"] = json!(run.id);
        let entry = AuditEntry::now(
            &caller.person,
            "legal_hold.release_requested",
            subject(&updated),
            updated.workspace_id.as_deref(),
            data,
        );
        audit::append(&mut tx, &[entry]).await?;
        updated
    };
    tx.commit().await?;
    Ok((updated, run))
}

/// The active holds covering a record of `category` of `workspace`, about `customer`,
/// timed `at`: the answer to "is this record held?".
pub async fn covering(
    pool: &PgPool,
    caller: &Caller,
    category: &str,
    workspace: Option<&str>,
    customer: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> Result<Vec<uuid::Uuid>, HoldError> {
    let mut problems = Vec::new();
    if Category::parse(category).is_none() {
        problems.push(at_problem(
            "category",
            format!(
                "unknown category `{category}`; categories are {}",
                Category::names()
            ),
        ));
    }
    let customer = match customer {
        None => None,
        Some(text) => match normalise_customer(text) {
            Some(wa_id) => Some(wa_id),
            None => {
                problems.push(at_problem(
                    "customer",
                    "not a WhatsApp id or phone number (6 to 15 digits, optionally with +)".into(),
                ));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(HoldError::Invalid(problems));
    }
    let workspace = caller
        .target_workspace(workspace.map(str::to_owned))
        .map_err(HoldError::WorkspaceNotFound)?;
    let mut conn = pool.acquire().await?;
    let customers: Vec<String> = customer.into_iter().collect();
    let ids = store::holds::covering(
        &mut conn,
        category,
        workspace.as_deref(),
        &customers,
        None,
        at,
    )
    .await?;
    // A confined key learns only of its own workspace's holds.
    let mut visible = Vec::new();
    for id in ids {
        if let Some(row) = caller.visible(store::holds::get(&mut conn, HoldId::from(id)).await?) {
            visible.push(row.id);
        }
    }
    Ok(visible)
}

fn at_problem(parameter: &str, message: String) -> InputProblem {
    InputProblem {
        pointer: format!("?{parameter}"),
        message,
    }
}

/// Marks holds past their expiry as expired, each audited; returns how many.
pub async fn expire_due(pool: &PgPool) -> sqlx::Result<usize> {
    let mut tx = pool.begin().await?;
    let expired = store::holds::expire_due(&mut tx).await?;
    let entries: Vec<AuditEntry> = expired
        .iter()
        .map(|row| {
            AuditEntry::now(
                super::ACTOR,
                "legal_hold.expired",
                subject(row),
                row.workspace_id.as_deref(),
                audit_data(row),
            )
        })
        .collect();
    audit::append(&mut tx, &entries).await?;
    if !expired.is_empty() {
        store::hold_waits::announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(expired.len())
}
