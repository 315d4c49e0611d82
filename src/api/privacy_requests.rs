//! `/v1/privacy-requests`: file deletion, access and disconnect requests about a business
//! account or one of its customers, read them with their timeline and deadlines, verify
//! requesters, decide the review and second approval, extend deadlines, link packages and
//! record responses (bodies in [`super::privacy_bodies`], views in
//! [`super::privacy_views`]). Calls the privacy domain's
//! commands ([`crate::privacy`]).

use chrono::NaiveDate;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::privacy_bodies::{
    DecideRequest, ExtendRequest, FileRequest, RequestDecision, RequestKind, RespondRequest,
    VerifyRequest,
};
use super::privacy_views::{PackageLinkView, PrivacyRequestDetailView, PrivacyRequestView};
use super::problem::ApiError;
use super::runs::page_cursor;
use crate::engine::Engine;
use crate::privacy::requests::{
    self, CustomerRef, NewRequest, PrivacyRequestId, RequestError, RequestQuery, Requester,
};
use crate::privacy::verification;
use crate::security::Permission;
use crate::security::secret_box::SecretBox;

#[derive(ApiResponse)]
enum LinkResponse {
    /// A new link; the one before no longer works.
    #[oai(status = 201)]
    Created(Json<PackageLinkView>),
}

/// A page of requests.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PrivacyRequestPage {
    /// Newest first.
    pub items: Vec<PrivacyRequestView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum FileResponse {
    /// Filed; its run has started.
    #[oai(status = 201)]
    Created(Json<PrivacyRequestDetailView>),
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Invalid(problems) => ApiError::invalid(
                "invalid-privacy-request",
                "The privacy request is not valid",
                problems,
            ),
            RequestError::NotFound(_) => {
                ApiError::not_found("privacy-request-not-found", error.to_string())
            }
            RequestError::WorkspaceNotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            RequestError::Conflict("confined-key", detail) => {
                ApiError::forbidden("confined-key", detail)
            }
            RequestError::Conflict(kind, detail) => ApiError::conflict(kind, detail),
            RequestError::Engine(error) => error.into(),
            RequestError::Database(error) => error.into(),
        }
    }
}

const MAX_PAGE: u32 = 200;

/// The privacy requests resource.
pub struct PrivacyRequestsApi {
    /// The engine (request runs, and its pool).
    pub engine: Engine,
    /// Digests the verification codes entered.
    pub secrets: SecretBox,
}

#[OpenApi(tag = "ApiTags::Privacy")]
impl PrivacyRequestsApi {
    /// File a privacy request
    ///
    /// Stores the request with its statutory deadlines and starts its run. Made with a
    /// key confined to the workspace it concerns, the request is the business's own
    /// instruction and verified at intake.
    #[oai(
        path = "/v1/privacy-requests",
        method = "post",
        operation_id = "file_privacy_request"
    )]
    async fn file(&self, auth: ApiKey, body: Json<FileRequest>) -> Result<FileResponse, ApiError> {
        let caller = auth.require(Permission::FilePrivacyRequests)?;
        let body = body.0;
        let request = NewRequest {
            kind: body.kind.as_str().to_owned(),
            workspace_id: body.subject.workspace_id,
            customer: body.subject.customer.map(|c| CustomerRef {
                wa_id: c.wa_id,
                phone: c.phone,
            }),
            requester: Requester {
                name: body.requester.name,
                contact: body.requester.contact,
                relation: body.requester.relation,
            },
            jurisdiction: body.jurisdiction.as_str().to_owned(),
            received_at: body.received_at,
            channel: body.channel,
            notes: body.notes,
        };
        let row = requests::file(&self.engine, caller, &request).await?;
        let detail =
            requests::get(self.engine.pool(), caller, PrivacyRequestId::from(row.id)).await?;
        Ok(FileResponse::Created(Json(detail.into())))
    }

    /// List privacy requests
    ///
    /// Newest first; follow `next_cursor`.
    #[oai(
        path = "/v1/privacy-requests",
        method = "get",
        operation_id = "list_privacy_requests"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: ApiKey,
        /// Only requests of this kind.
        kind: Query<Option<RequestKind>>,
        /// Only requests in this status.
        #[oai(validator(max_length = 50))]
        status: Query<Option<String>>,
        /// Only open requests due on or before this day.
        due_before: Query<Option<NaiveDate>>,
        /// Only requests about this workspace.
        workspace_id: Query<Option<String>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<PrivacyRequestPage>, ApiError> {
        let caller = auth.require(Permission::ReadPrivacyRequests)?;
        let before = page_cursor(cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50).min(MAX_PAGE);
        let query = RequestQuery {
            workspace_id: workspace_id.0,
            kind: kind.0.map(|k| k.as_str().to_owned()),
            status: status.0,
            due_before: due_before.0,
            before,
            limit: i64::from(limit),
        };
        let rows = requests::list(self.engine.pool(), caller, &query).await?;
        let next_cursor = (rows.len() == limit as usize)
            .then(|| rows.last().map(|row| row.id.to_string()))
            .flatten();
        Ok(Json(PrivacyRequestPage {
            items: rows.into_iter().map(PrivacyRequestView::from).collect(),
            next_cursor,
        }))
    }

    /// Get a privacy request
    ///
    /// With its timeline (intake, verification, decisions, hold waits, receipts,
    /// response) and its deadline's extensions.
    #[oai(
        path = "/v1/privacy-requests/:id",
        method = "get",
        operation_id = "get_privacy_request"
    )]
    async fn get(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
    ) -> Result<Json<PrivacyRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::ReadPrivacyRequests)?;
        let detail =
            requests::get(self.engine.pool(), caller, PrivacyRequestId::from(id.0)).await?;
        Ok(Json(detail.into()))
    }

    /// Decide a privacy request
    ///
    /// Approves or denies the step the request waits at: the review (a compliance
    /// officer other than the filer), or the second approval a whole account's deletion
    /// needs (a compliance lead other than the filer and the reviewer).
    #[oai(
        path = "/v1/privacy-requests/:id/decision",
        method = "post",
        operation_id = "decide_privacy_request"
    )]
    async fn decide(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<DecideRequest>,
    ) -> Result<Json<PrivacyRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::DecidePrivacyRequests)?;
        let detail = requests::decide(
            &self.engine,
            caller,
            PrivacyRequestId::from(id.0),
            body.0.decision == RequestDecision::Approve,
            body.0.reason.as_deref(),
            body.0.note.as_deref(),
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Enter a verification code
    ///
    /// The code the requester received on WhatsApp (they read it out, or the business
    /// types it in). Right: the request is verified and goes to review. Wrong: one of 3
    /// attempts used (422 on `/code`); 409 `code-expired` after 10 minutes,
    /// `code-exhausted` after 3 wrong entries, `no-code`, `not-verifying`.
    #[oai(
        path = "/v1/privacy-requests/:id/verification",
        method = "post",
        operation_id = "verify_privacy_request"
    )]
    async fn verify(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<VerifyRequest>,
    ) -> Result<Json<PrivacyRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::FilePrivacyRequests)?;
        let detail = verification::submit_code(
            &self.engine,
            &self.secrets,
            caller,
            PrivacyRequestId::from(id.0),
            &body.0.code,
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Send a fresh verification code
    ///
    /// The run sends a new code to the customer's WhatsApp number; the one before no
    /// longer works. 409 `not-verifying`, or `code-on-its-way` while one is being sent.
    #[oai(
        path = "/v1/privacy-requests/:id/verification/code",
        method = "post",
        operation_id = "reissue_privacy_request_code"
    )]
    async fn reissue(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
    ) -> Result<Json<PrivacyRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::FilePrivacyRequests)?;
        let detail =
            verification::reissue(&self.engine, caller, PrivacyRequestId::from(id.0)).await?;
        Ok(Json(detail.into()))
    }

    /// Link to an access request's package
    ///
    /// A new link for the requester's channel (the one before stops working): public,
    /// the token is its credential; it works 5 times for 7 days, then the package's files
    /// are deleted. 409 `no-package` (not a completed access request), `package-deleted`.
    #[oai(
        path = "/v1/privacy-requests/:id/package/link",
        method = "post",
        operation_id = "link_privacy_request_package"
    )]
    async fn link(&self, auth: ApiKey, id: Path<Uuid>) -> Result<LinkResponse, ApiError> {
        let caller = auth.require(Permission::DecidePrivacyRequests)?;
        let link = crate::privacy::packages::issue_link(
            self.engine.pool(),
            &self.secrets,
            caller,
            PrivacyRequestId::from(id.0),
        )
        .await?;
        Ok(LinkResponse::Created(Json(PackageLinkView {
            path: format!("/privacy/packages/{}", link.token),
            expires_at: link.expires_at,
            fetches: link.fetches,
        })))
    }

    /// Record the response sent to the requester
    ///
    /// Once a request is closed: when and how its answer went out (never what it said),
    /// in its timeline and the audit ledger. 409 `request-open`.
    #[oai(
        path = "/v1/privacy-requests/:id/responses",
        method = "post",
        operation_id = "record_privacy_request_response"
    )]
    async fn respond(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<RespondRequest>,
    ) -> Result<Json<PrivacyRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::DecidePrivacyRequests)?;
        let response = crate::privacy::responses::NewResponse {
            channel: body.0.channel,
            sent_at: body.0.sent_at,
            reference: body.0.reference,
        };
        let detail = crate::privacy::responses::record_response(
            self.engine.pool(),
            caller,
            PrivacyRequestId::from(id.0),
            &response,
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// A privacy request's evidence bundle
    ///
    /// One file: the request record, timeline, decisions, package manifest, receipts,
    /// and the ledger entries with the chain links to check them against a chain head,
    /// offline: `bazaarstreet evidence verify FILE --head SEQ:HASH` (docs/EVIDENCE.md).
    /// `through`: end the chain at this entry instead of the current head.
    #[oai(
        path = "/v1/privacy-requests/:id/evidence",
        method = "get",
        operation_id = "get_privacy_request_evidence"
    )]
    async fn evidence(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1")))] through: Query<Option<i64>>,
    ) -> Result<Json<serde_json::Value>, ApiError> {
        let caller = auth.require(Permission::ReadEvidence)?;
        let bundle = crate::privacy::evidence::evidence(
            self.engine.pool(),
            caller,
            PrivacyRequestId::from(id.0),
            through.0,
        )
        .await?;
        Ok(Json(bundle))
    }

    /// Extend a privacy request's deadline
    ///
    /// As its jurisdiction allows (GDPR: up to two further months; CCPA: once, 45 days;
    /// other: once, 30 days), before the original due date, with the reason and when the
    /// requester was told.
    #[oai(
        path = "/v1/privacy-requests/:id/extensions",
        method = "post",
        operation_id = "extend_privacy_request"
    )]
    async fn extend(
        &self,
        auth: ApiKey,
        id: Path<Uuid>,
        body: Json<ExtendRequest>,
    ) -> Result<Json<PrivacyRequestDetailView>, ApiError> {
        let caller = auth.require(Permission::DecidePrivacyRequests)?;
        let extension = crate::privacy::extensions::NewExtension {
            to: body.0.to,
            reason: body.0.reason,
            notice_at: body.0.notice_at,
        };
        let detail = crate::privacy::extensions::extend(
            self.engine.pool(),
            caller,
            PrivacyRequestId::from(id.0),
            &extension,
        )
        .await?;
        Ok(Json(detail.into()))
    }
}
