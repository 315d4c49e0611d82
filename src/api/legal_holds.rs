//! `/v1/legal-holds`: place, list, read, renew and release legal holds, and ask whether a
//! record is held. Calls the data lifecycle domain's commands ([`crate::lifecycle::holds`]).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use super::runs::page_cursor;
use super::views::RunView;
use crate::engine::Engine;
use crate::lifecycle::holds::{self, HoldError, HoldId, HoldQuery, HoldRow, HoldScope, NewHold};
use crate::security::Permission;

/// The kind of hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HoldKind {
    /// Litigation pending or reasonably expected; until released.
    Litigation,
    /// A regulator's investigation or inquiry; until released.
    Regulatory,
    /// An authority's preservation request (18 USC 2703(f)): 90 days, renewable once.
    Preservation,
}

impl HoldKind {
    fn as_str(self) -> &'static str {
        match self {
            HoldKind::Litigation => "litigation",
            HoldKind::Regulatory => "regulatory",
            HoldKind::Preservation => "preservation",
        }
    }
}

/// A hold's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Holding (until `expires_at`, if it has one).
    Active,
    /// Released after approval.
    Released,
    /// Past its expiry.
    Expired,
}

impl HoldStatus {
    fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }
}

/// What a hold covers; each part left out covers everything along it, but name one.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HoldScopeView {
    /// One workspace (a confined key: its own, the default).
    pub workspace_id: Option<String>,
    /// Customers by WhatsApp id or phone number (stored as `wa_id`s).
    #[oai(validator(max_items = 1000))]
    pub customers: Option<Vec<String>>,
    /// Data-map categories (`GET /v1/data-map`).
    #[oai(validator(max_items = 20))]
    pub categories: Option<Vec<String>>,
    /// Records from this instant on (by the time their retention counts from).
    pub from: Option<DateTime<Utc>>,
    /// Records up to this instant.
    pub to: Option<DateTime<Utc>>,
}

/// A hold to place.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PlaceHoldRequest {
    /// Kind.
    pub kind: HoldKind,
    /// What it covers.
    pub scope: HoldScopeView,
    /// Why (kept with the hold, never in the audit ledger).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub reason: String,
    /// The matter: case number, authority reference.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub matter_ref: String,
    /// When it stops holding (preservation: at most 90 days ahead, the default).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Example for PlaceHoldRequest {
    fn example() -> Self {
        Self {
            kind: HoldKind::Litigation,
            scope: HoldScopeView {
                workspace_id: Some("ws_salon_aurora".into()),
                customers: Some(vec!["4915123456789".into()]),
                categories: Some(vec!["inbound_messages".into(), "message_statuses".into()]),
                from: None,
                to: None,
            },
            reason: "Customer dispute over a cancelled booking; counsel asked to preserve".into(),
            matter_ref: "LIT-2026-014".into(),
            expires_at: None,
        }
    }
}

/// A legal hold.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HoldView {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// `active`, `released` or `expired`.
    pub status: String,
    /// What it covers.
    pub scope: HoldScopeView,
    /// Why.
    pub reason: String,
    /// The matter.
    pub matter_ref: String,
    /// Who placed it.
    pub placed_by: String,
    /// When.
    pub placed_at: DateTime<Utc>,
    /// When it stops holding.
    pub expires_at: Option<DateTime<Utc>>,
    /// Renewals so far (preservation: at most one).
    pub renewals: i32,
    /// The latest release run (`/v1/runs/{id}`).
    pub release_run_id: Option<Uuid>,
    /// Who approved the release.
    pub released_by: Option<String>,
    /// When it was released.
    pub released_at: Option<DateTime<Utc>>,
}

impl From<HoldRow> for HoldView {
    fn from(row: HoldRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            status: row.status,
            scope: HoldScopeView {
                workspace_id: row.workspace_id,
                customers: row.customers,
                categories: row.categories,
                from: row.from_at,
                to: row.to_at,
            },
            reason: row.reason,
            matter_ref: row.matter_ref,
            placed_by: row.placed_by,
            placed_at: row.placed_at,
            expires_at: row.expires_at,
            renewals: row.renewals,
            release_run_id: row.release_run_id,
            released_by: row.released_by,
            released_at: row.released_at,
        }
    }
}

/// A page of holds.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HoldPage {
    /// Newest first.
    pub items: Vec<HoldView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A release to ask for.
#[derive(Debug, Object)]
pub struct ReleaseHoldRequest {
    /// Why the hold is no longer needed (kept in the release run's input).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub reason: String,
}

/// A release asked for: the hold and the run waiting for a lead's approval.
#[derive(Debug, Object)]
pub struct HoldReleaseView {
    /// The hold (still active until the release is approved).
    pub hold: HoldView,
    /// The release run; a compliance lead other than the placer decides its `approve` step.
    pub run: RunView,
}

/// Whether a record is held.
#[derive(Debug, Object)]
pub struct HoldCheckView {
    /// Whether any active hold covers it.
    pub held: bool,
    /// The holds covering it (those the caller may see).
    pub hold_ids: Vec<Uuid>,
}

#[derive(ApiResponse)]
enum PlaceHoldResponse {
    /// Placed; it holds from now on.
    #[oai(status = 201)]
    Created(Json<HoldView>),
}

#[derive(ApiResponse)]
enum ReleaseHoldResponse {
    /// The release run started (or was already under way for this request).
    #[oai(status = 202)]
    Accepted(Json<HoldReleaseView>),
}

impl From<HoldError> for ApiError {
    fn from(error: HoldError) -> Self {
        match error {
            HoldError::Invalid(problems) => ApiError::invalid(
                "invalid-legal-hold",
                "The legal hold is not valid",
                problems,
            ),
            HoldError::NotFound(_) => {
                ApiError::not_found("legal-hold-not-found", error.to_string())
            }
            HoldError::WorkspaceNotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            HoldError::Conflict(kind, detail) => ApiError::conflict(kind, detail),
            HoldError::Engine(error) => error.into(),
            HoldError::Database(error) => error.into(),
        }
    }
}

const MAX_PAGE: u32 = 200;

/// The legal holds resource.
pub struct LegalHoldsApi {
    /// The engine (release runs, and its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::DataLifecycle")]
impl LegalHoldsApi {
    /// Place a legal hold
    ///
    /// From now on no purge or erasure touches the records it covers. Compliance
    /// officers and leads; a confined key holds its own workspace's records only.
    #[oai(
        path = "/v1/legal-holds",
        method = "post",
        operation_id = "place_legal_hold"
    )]
    async fn place(
        &self,
        auth: ApiKey,
        body: Json<PlaceHoldRequest>,
    ) -> Result<PlaceHoldResponse, ApiError> {
        let caller = auth.require(Permission::PlaceHolds)?;
        let body = body.0;
        let hold = NewHold {
            kind: body.kind.as_str().to_owned(),
            scope: HoldScope {
                workspace_id: body.scope.workspace_id,
                customers: body.scope.customers,
                categories: body.scope.categories,
                from: body.scope.from,
                to: body.scope.to,
            },
            reason: body.reason,
            matter_ref: body.matter_ref,
            expires_at: body.expires_at,
        };
        let row = holds::place(self.engine.pool(), caller, &hold).await?;
        Ok(PlaceHoldResponse::Created(Json(row.into())))
    }

    /// List legal holds
    ///
    /// Newest first; follow `next_cursor`.
    #[oai(
        path = "/v1/legal-holds",
        method = "get",
        operation_id = "list_legal_holds"
    )]
    async fn list(
        &self,
        auth: ApiKey,
        /// Only holds in this status.
        status: Query<Option<HoldStatus>>,
        /// Only holds of this kind.
        kind: Query<Option<HoldKind>>,
        /// Only holds of this workspace.
        workspace_id: Query<Option<String>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<HoldPage>, ApiError> {
        let caller = auth.require(Permission::ReadLifecycle)?;
        let before = page_cursor(cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50).min(MAX_PAGE);
        let query = HoldQuery {
            workspace_id: workspace_id.0,
            status: status.0.map(|s| s.as_str().to_owned()),
            kind: kind.0.map(|k| k.as_str().to_owned()),
            before,
            limit: i64::from(limit),
        };
        let rows = holds::list(self.engine.pool(), caller, &query).await?;
        let next_cursor = (rows.len() == limit as usize)
            .then(|| rows.last().map(|row| row.id.to_string()))
            .flatten();
        Ok(Json(HoldPage {
            items: rows.into_iter().map(HoldView::from).collect(),
            next_cursor,
        }))
    }

    /// Is a record held?
    ///
    /// The active holds covering a record of `category`, of a workspace, about a customer,
    /// timed `at`: what every purge and erasure asks before it deletes.
    #[oai(
        path = "/v1/legal-holds/check",
        method = "get",
        operation_id = "check_legal_holds"
    )]
    async fn check(
        &self,
        auth: ApiKey,
        /// Data-map category of the record.
        category: Query<String>,
        /// Its workspace.
        workspace_id: Query<Option<String>>,
        /// The customer it is about (WhatsApp id or phone number).
        customer: Query<Option<String>>,
        /// Its time (as its retention counts from).
        at: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<HoldCheckView>, ApiError> {
        let caller = auth.require(Permission::ReadLifecycle)?;
        let ids = holds::covering(
            self.engine.pool(),
            caller,
            &category.0,
            workspace_id.0.as_deref(),
            customer.0.as_deref(),
            at.0,
        )
        .await?;
        Ok(Json(HoldCheckView {
            held: !ids.is_empty(),
            hold_ids: ids,
        }))
    }

    /// Get a legal hold
    #[oai(
        path = "/v1/legal-holds/:id",
        method = "get",
        operation_id = "get_legal_hold"
    )]
    async fn get(&self, auth: ApiKey, id: Path<Uuid>) -> Result<Json<HoldView>, ApiError> {
        let caller = auth.require(Permission::ReadLifecycle)?;
        let row = holds::get(self.engine.pool(), caller, HoldId::from(id.0)).await?;
        Ok(Json(row.into()))
    }

    /// Renew a preservation hold
    ///
    /// Once, for 90 days from its current expiry. Other kinds last until released.
    #[oai(
        path = "/v1/legal-holds/:id/renew",
        method = "post",
        operation_id = "renew_legal_hold"
    )]
    async fn renew(&self, auth: ApiKey, id: Path<Uuid>) -> Result<Json<HoldView>, ApiError> {
        let caller = auth.require(Permission::PlaceHolds)?;
        let row = holds::renew(self.engine.pool(), caller, HoldId::from(id.0)).await?;
        Ok(Json(row.into()))
    }

    /// Ask to release a legal hold
    ///
    /// Starts the `legal_hold_release` run; the hold stays in force until a compliance
    /// lead other than its placer (and other than the caller) approves its `approve` step.
    #[oai(
        path = "/v1/legal-holds/:id/release",
        method = "post",
        operation_id = "release_legal_hold"
    )]
    async fn release(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<ReleaseHoldRequest>,
    ) -> Result<ReleaseHoldResponse, ApiError> {
        let caller = auth.require(Permission::PlaceHolds)?;
        let (hold, run) =
            holds::request_release(&self.engine, caller, HoldId::from(id.0), &body.0.reason)
                .await?;
        Ok(ReleaseHoldResponse::Accepted(Json(HoldReleaseView {
            hold: hold.into(),
            run: run.into(),
        })))
    }
}
