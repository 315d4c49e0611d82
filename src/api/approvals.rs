//! `/v1/approvals`: the approval steps the calling key may decide now.

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use crate::engine::Engine;

/// An approval step waiting for the caller's decision.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ApprovalView {
    /// Run.
    pub run_id: Uuid,
    /// Workflow of the run.
    pub workflow: String,
    /// Workspace of the run.
    pub workspace_id: Option<String>,
    /// The approval step; decide it at `/v1/runs/{run_id}/steps/{step_id}/decision`.
    pub step_id: String,
    /// Who started the run.
    pub initiator: String,
    /// Roles that may decide.
    pub roles: Vec<String>,
    /// Approvals so far.
    pub approvals: i64,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Waiting since.
    pub waiting_since: DateTime<Utc>,
    /// When the approval expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Approvals the caller may decide.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApprovalList {
    /// Oldest first.
    pub items: Vec<ApprovalView>,
}

/// The approvals resource.
pub struct ApprovalsApi {
    /// The engine.
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Approvals")]
impl ApprovalsApi {
    /// List approvals I may decide
    ///
    /// Approval steps waiting now that the calling key's role, workspace and the steps'
    /// separation-of-duties rules allow it to decide, and that it has not voted on yet.
    #[oai(
        path = "/v1/approvals",
        method = "get",
        operation_id = "list_approvals"
    )]
    async fn list(&self, auth: ApiKey) -> Result<Json<ApprovalList>, ApiError> {
        let open = self.engine.open_approvals(&auth.0).await?;
        Ok(Json(ApprovalList {
            items: open
                .into_iter()
                .map(|item| ApprovalView {
                    run_id: item.waiting.run_id.uuid(),
                    workflow: item.waiting.workflow,
                    workspace_id: item.waiting.workspace_id,
                    step_id: item.waiting.step_id,
                    initiator: item.waiting.initiator,
                    roles: item.roles,
                    approvals: item.waiting.approvals,
                    quorum: item.quorum,
                    waiting_since: item.waiting.created_at,
                    expires_at: item.waiting.wake_at,
                })
                .collect(),
        }))
    }
}
