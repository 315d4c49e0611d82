//! `/v1/authority-requests`: file requests from public authorities, read them with their
//! timeline, package and notices, review them (valid with the approved scope, invalid,
//! needs clarification), record clarifications and renewals, approve disclosures and
//! post-review emergencies, fetch the disclosed package and the evidence bundle; and
//! `/v1/transparency` and `/v1/notices`. Bodies in [`super::authority_bodies`], views in
//! [`super::authority_views`]. Calls the authority domain's commands
//! ([`crate::authority`]).

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, ResponseContent};
use serde_json::Value;
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::authority_bodies::{
    ClarificationBody, DisclosureBody, DisclosureDecision, FileAuthorityRequest, Finding,
    PostReviewBody, ReviewBody, VerdictName,
};
use super::authority_views::{AuthorityRequestDetailView, AuthorityRequestView, NoticeView};
use super::problem::ApiError;
use super::runs::page_cursor;
use crate::authority::decisions::{self, Verdict};
use crate::authority::requests::{
    self, AuthorityRequestId, Document, NewRequest, RequestError, RequestQuery,
};
use crate::authority::transparency::{self, Counts};
use crate::engine::Engine;
use crate::security::Permission;

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Invalid(problems) => ApiError::invalid(
                "invalid-authority-request",
                "The authority request is not valid",
                problems,
            ),
            RequestError::NotFound(_) => {
                ApiError::not_found("authority-request-not-found", error.to_string())
            }
            RequestError::Confined => ApiError::forbidden("confined-key", error.to_string()),
            RequestError::Conflict(kind, detail) => ApiError::conflict(kind, detail),
            RequestError::Engine(error) => error.into(),
            RequestError::Database(error) => error.into(),
        }
    }
}

/// A page of requests.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthorityRequestPage {
    /// Newest first.
    pub items: Vec<AuthorityRequestView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum FileResponse {
    /// Filed; its run has started.
    #[oai(status = 201)]
    Created(Json<AuthorityRequestDetailView>),
}

/// The package's files.
#[derive(Debug, Object)]
pub struct PackageFilesView {
    /// The manifest (each file's SHA-256).
    pub manifest: Value,
    /// `{file name: content}`; each content's SHA-256 is in the manifest.
    pub files: Value,
}

/// The counts of one group of requests.
#[derive(Debug, Object)]
pub struct CountsView {
    /// Requests received.
    pub received: i64,
    /// Those where some data was produced.
    pub produced: i64,
    /// Their share, in percent.
    pub produced_share_percent: f64,
    /// Those whose approved scope was narrower than requested.
    pub narrowed: i64,
    /// Those rejected as legally insufficient.
    pub rejected: i64,
    /// Those made on an emergency basis.
    pub emergency: i64,
    /// Those still open.
    pub open: i64,
    /// Accounts (workspaces and customers) the requests named.
    pub accounts_requested: i64,
    /// Workspaces whose records were produced.
    pub accounts_affected: i64,
}

impl From<&Counts> for CountsView {
    fn from(c: &Counts) -> Self {
        Self {
            received: c.received,
            produced: c.produced,
            produced_share_percent: c.produced_share(),
            narrowed: c.narrowed,
            rejected: c.rejected,
            emergency: c.emergency,
            open: c.open,
            accounts_requested: c.accounts_requested,
            accounts_affected: c.accounts_affected,
        }
    }
}

/// A group's key and counts.
#[derive(Debug, Object)]
pub struct GroupView {
    /// The instrument or jurisdiction.
    pub key: String,
    /// Its counts.
    pub counts: CountsView,
}

/// The transparency report of a half-year.
#[derive(Debug, Object)]
pub struct TransparencyView {
    /// `2026-H2`.
    pub period: String,
    /// All requests received in it.
    pub total: CountsView,
    /// By instrument.
    pub by_instrument: Vec<GroupView>,
    /// By jurisdiction.
    pub by_jurisdiction: Vec<GroupView>,
}

/// The report's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportFormat {
    /// JSON.
    Json,
    /// CSV, one row per group.
    Csv,
}

#[derive(ResponseContent)]
enum ReportContent {
    Json(Json<TransparencyView>),
    #[oai(content_type = "text/csv")]
    Csv(PlainText<String>),
}

#[derive(ApiResponse)]
enum ReportResponse {
    /// The report.
    #[oai(status = 200)]
    Ok(ReportContent),
}

/// A page of notices.
#[derive(Debug, Object)]
pub struct NoticePage {
    /// Newest first.
    pub items: Vec<NoticeView>,
}

const MAX_PAGE: u32 = 200;

/// The authority requests resource.
pub struct AuthorityRequestsApi {
    /// The engine (request runs, and its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Authority")]
impl AuthorityRequestsApi {
    /// File an authority request
    ///
    /// Stores the request as received (documents by hash) and starts its run: review,
    /// narrowing, preservation, package, disclosure approval, notice. Only staff whose
    /// keys see every workspace handle authority requests (403 `confined-key`).
    #[oai(
        path = "/v1/authority-requests",
        method = "post",
        operation_id = "file_authority_request"
    )]
    async fn file(
        &self,
        auth: ApiKey,
        body: Json<FileAuthorityRequest>,
    ) -> Result<FileResponse, ApiError> {
        let caller = auth.require(Permission::FileAuthorityRequests)?;
        let body = body.0;
        let (ordered, until) = body
            .nondisclosure
            .map_or((false, None), |order| (order.ordered, order.until));
        let request = NewRequest {
            authority: body.authority,
            jurisdiction: body.jurisdiction,
            instrument: body.instrument,
            reference: body.reference,
            received_at: body.received_at,
            requested_scope: body.requested_scope.into(),
            nondisclosure_ordered: ordered,
            nondisclosure_until: until,
            documents: body
                .documents
                .unwrap_or_default()
                .into_iter()
                .map(|d| Document {
                    name: d.name,
                    sha256: d.sha256,
                })
                .collect(),
            due_at: body.due_at,
            recipient: body.recipient,
        };
        let row = requests::file(&self.engine, caller, &request).await?;
        let detail =
            requests::get(self.engine.pool(), caller, AuthorityRequestId::from(row.id)).await?;
        Ok(FileResponse::Created(Json(detail.into())))
    }

    /// List authority requests
    ///
    /// Newest first; follow `next_cursor`. A key confined to a workspace sees none.
    #[oai(
        path = "/v1/authority-requests",
        method = "get",
        operation_id = "list_authority_requests"
    )]
    async fn list(
        &self,
        auth: ApiKey,
        /// Only requests under this instrument.
        #[oai(validator(max_length = 50))]
        instrument: Query<Option<String>>,
        /// Only requests in this status.
        #[oai(validator(max_length = 50))]
        status: Query<Option<String>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AuthorityRequestPage>, ApiError> {
        let caller = auth.require(Permission::ReadAuthorityRequests)?;
        let before = page_cursor(cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50).min(MAX_PAGE);
        let query = RequestQuery {
            instrument: instrument.0,
            status: status.0,
            before,
            limit: i64::from(limit),
        };
        let rows = requests::list(self.engine.pool(), caller, &query).await?;
        let next_cursor = (rows.len() == limit as usize)
            .then(|| rows.last().map(|row| row.id.to_string()))
            .flatten();
        Ok(Json(AuthorityRequestPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Get an authority request
    ///
    /// With its timeline, package manifest and notices.
    #[oai(
        path = "/v1/authority-requests/:id",
        method = "get",
        operation_id = "get_authority_request"
    )]
    async fn get(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
    ) -> Result<Json<AuthorityRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::ReadAuthorityRequests)?;
        let detail =
            requests::get(self.engine.pool(), caller, AuthorityRequestId::from(id.0)).await?;
        Ok(Json(detail.into()))
    }

    /// Review an authority request
    ///
    /// The legal sufficiency review by a compliance officer other than the filer (an
    /// emergency request: its approval by a compliance lead). `valid` with the approved
    /// scope, which may not be wider than the requested one or than the instrument
    /// allows (422 naming the field); `invalid` or `needs_clarification` with a reason.
    /// A refusal of the approval policy (403 naming the rule) writes nothing.
    #[oai(
        path = "/v1/authority-requests/:id/review",
        method = "post",
        operation_id = "review_authority_request"
    )]
    async fn review(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<ReviewBody>,
    ) -> Result<Json<AuthorityRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::DecideAuthorityRequests)?;
        let body = body.0;
        let verdict = match body.verdict {
            VerdictName::Valid => Verdict::Valid,
            VerdictName::Invalid => Verdict::Invalid,
            VerdictName::NeedsClarification => Verdict::NeedsClarification,
        };
        let approved = body.approved_scope.map(Into::into);
        let detail = decisions::review(
            &self.engine,
            caller,
            AuthorityRequestId::from(id.0),
            verdict,
            approved.as_ref(),
            body.reason.as_deref().unwrap_or_default(),
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Record the authority's clarification
    ///
    /// The request waited for it after a `needs_clarification` review; it goes back to
    /// review. 409 `not-awaiting-clarification`.
    #[oai(
        path = "/v1/authority-requests/:id/clarification",
        method = "post",
        operation_id = "clarify_authority_request"
    )]
    async fn clarify(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<ClarificationBody>,
    ) -> Result<Json<AuthorityRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::FileAuthorityRequests)?;
        let detail = decisions::clarify(
            &self.engine,
            caller,
            AuthorityRequestId::from(id.0),
            &body.0.note,
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Renew a preservation
    ///
    /// A preservation request's holds last 90 days; the authority may ask once for 90
    /// more. 409 `not-preserving`, `hold-already-renewed`.
    #[oai(
        path = "/v1/authority-requests/:id/renewal",
        method = "post",
        operation_id = "renew_authority_request"
    )]
    async fn renew(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
    ) -> Result<Json<AuthorityRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::FileAuthorityRequests)?;
        let detail = decisions::renew(&self.engine, caller, AuthorityRequestId::from(id.0)).await?;
        Ok(Json(detail.into()))
    }

    /// Approve or withhold the disclosure
    ///
    /// By a compliance lead other than the reviewer and the filer, once the package of
    /// the approved scope is built (403 naming the rule otherwise; 409
    /// `not-awaiting-decision`).
    #[oai(
        path = "/v1/authority-requests/:id/disclosure",
        method = "post",
        operation_id = "decide_authority_disclosure"
    )]
    async fn disclosure(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<DisclosureBody>,
    ) -> Result<Json<AuthorityRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::DecideAuthorityRequests)?;
        let detail = decisions::decide_disclosure(
            &self.engine,
            caller,
            AuthorityRequestId::from(id.0),
            body.0.decision == DisclosureDecision::Approve,
            body.0.reason.as_deref().unwrap_or_default(),
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Post-review an emergency disclosure
    ///
    /// By a second person (not the lead who approved it, not the filer) within 48 hours;
    /// an overdue post-review is escalated and still required.
    #[oai(
        path = "/v1/authority-requests/:id/post-review",
        method = "post",
        operation_id = "post_review_authority_request"
    )]
    async fn post_review(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<PostReviewBody>,
    ) -> Result<Json<AuthorityRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::DecideAuthorityRequests)?;
        let detail = decisions::post_review(
            &self.engine,
            caller,
            AuthorityRequestId::from(id.0),
            body.0.finding == Finding::Sound,
            body.0.reason.as_deref().unwrap_or_default(),
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Fetch the disclosed package
    ///
    /// The files of the approved scope, once the disclosure is approved (409
    /// `not-approved` before), for 30 days (then 409 `package-removed`; the manifest
    /// stays).
    #[oai(
        path = "/v1/authority-requests/:id/package",
        method = "get",
        operation_id = "get_authority_package"
    )]
    async fn package(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
    ) -> Result<Json<PackageFilesView>, ApiError> {
        let caller = auth.require(Permission::DecideAuthorityRequests)?;
        let (manifest, files) =
            requests::package_files(self.engine.pool(), caller, AuthorityRequestId::from(id.0))
                .await?;
        Ok(Json(PackageFilesView { manifest, files }))
    }

    /// An authority request's evidence bundle
    ///
    /// One file: the request record, timeline, decisions, requested vs approved scope,
    /// package manifest and hash, notices, and the ledger entries with the chain links
    /// to check them against a chain head, offline: `bazaarstreet evidence verify FILE
    /// --head SEQ:HASH` (docs/EVIDENCE.md). `through`: end the chain at this entry (a
    /// head recorded earlier) instead of the current head.
    #[oai(
        path = "/v1/authority-requests/:id/evidence",
        method = "get",
        operation_id = "get_authority_request_evidence"
    )]
    async fn evidence(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1")))] through: Query<Option<i64>>,
    ) -> Result<Json<Value>, ApiError> {
        let caller = auth.require(Permission::ReadEvidence)?;
        let bundle = crate::authority::evidence::evidence(
            self.engine.pool(),
            caller,
            AuthorityRequestId::from(id.0),
            through.0,
        )
        .await?;
        Ok(Json(bundle))
    }

    /// The transparency report
    ///
    /// Requests received in a half-year by instrument and by jurisdiction: how many,
    /// the share with data produced, narrowed, rejected, emergencies, and the accounts
    /// named and affected. `format=csv` for one row per group.
    #[oai(
        path = "/v1/transparency",
        method = "get",
        operation_id = "get_transparency_report"
    )]
    async fn transparency(
        &self,
        auth: ApiKey,
        /// `YYYY-H1` or `YYYY-H2`.
        #[oai(validator(max_length = 10))]
        period: Query<String>,
        /// `json` (default) or `csv`.
        format: Query<Option<ReportFormat>>,
    ) -> Result<ReportResponse, ApiError> {
        let caller = auth.require(Permission::ReadTransparency)?;
        let report = transparency::report(self.engine.pool(), caller, &period.0).await?;
        if format.0 == Some(ReportFormat::Csv) {
            return Ok(ReportResponse::Ok(ReportContent::Csv(PlainText(
                transparency::csv(&report),
            ))));
        }
        let groups = |map: &std::collections::BTreeMap<String, Counts>| {
            map.iter()
                .map(|(key, counts)| GroupView {
                    key: key.clone(),
                    counts: counts.into(),
                })
                .collect()
        };
        Ok(ReportResponse::Ok(ReportContent::Json(Json(
            TransparencyView {
                period: report.period.name(),
                total: (&report.total).into(),
                by_instrument: groups(&report.by_instrument),
                by_jurisdiction: groups(&report.by_jurisdiction),
            },
        ))))
    }

    /// Notices of disclosures
    ///
    /// What businesses were told about disclosures of their data to authorities, newest
    /// first: a key confined to a workspace reads its own.
    #[oai(path = "/v1/notices", method = "get", operation_id = "list_notices")]
    async fn notices(
        &self,
        auth: ApiKey,
        /// Only this workspace's.
        #[oai(validator(max_length = 100))]
        workspace_id: Query<Option<String>>,
        /// At most this many (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<NoticePage>, ApiError> {
        let caller = auth.require(Permission::ReadNotices)?;
        let rows = requests::notices(
            self.engine.pool(),
            caller,
            workspace_id.0.as_deref(),
            i64::from(limit.0.unwrap_or(50).min(MAX_PAGE)),
        )
        .await?;
        Ok(Json(NoticePage {
            items: rows.into_iter().map(Into::into).collect(),
        }))
    }
}
