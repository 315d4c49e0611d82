//! `/v1/workspaces`: businesses and their WhatsApp connection; starting onboarding.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use super::views::RunView;
use crate::engine::Engine;
use crate::security::Permission;
use crate::security::secret_box::SecretBox;
use crate::whatsapp::workspaces::{
    self, OnboardingRequest, WorkspaceError, WorkspaceId, WorkspaceRow,
};

/// A workspace to create.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CreateWorkspaceRequest {
    /// The business's name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Your own id for it (letters, digits, `_`, `-`); generated (`ws_…`) when absent.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub id: Option<String>,
}

impl Example for CreateWorkspaceRequest {
    fn example() -> Self {
        Self {
            name: "Salon Aurora".into(),
            id: Some("ws_salon_aurora".into()),
        }
    }
}

/// A workspace. Its access token is never shown.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WorkspaceView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// onboarding, active, needs_reauth, disconnected or closed.
    pub status: String,
    /// Why the status is what it is.
    pub status_reason: Option<String>,
    /// Meta business portfolio.
    pub business_id: Option<String>,
    /// WhatsApp Business Account.
    pub waba_id: Option<String>,
    /// Registered phone number id.
    pub phone_number_id: Option<String>,
    /// As customers see it.
    pub display_phone_number: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<WorkspaceRow> for WorkspaceView {
    fn from(row: WorkspaceRow) -> Self {
        Self {
            id: row.id.into(),
            name: row.name,
            status: row.status,
            status_reason: row.status_reason,
            business_id: row.business_id,
            waba_id: row.waba_id,
            phone_number_id: row.phone_number_id,
            display_phone_number: row.display_phone_number,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Workspaces.
#[derive(Debug, Object)]
pub struct WorkspaceList {
    /// Oldest first.
    pub items: Vec<WorkspaceView>,
}

/// What Embedded Signup handed the browser, and the number's PIN.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct StartOnboardingRequest {
    /// The exchangeable code (it lives 30 seconds and works once: send it at once).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub code: String,
    /// The phone number's 6-digit two-step verification PIN.
    #[oai(validator(pattern = r"^[0-9]{6}$"))]
    pub pin: String,
    /// The WABA Embedded Signup reported.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub waba_id: Option<String>,
    /// The phone number Embedded Signup reported.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub phone_number_id: Option<String>,
    /// The business portfolio Embedded Signup reported.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub business_id: Option<String>,
}

impl Example for StartOnboardingRequest {
    fn example() -> Self {
        Self {
            code: "AQBx…".into(),
            pin: "123456".into(),
            waba_id: Some("102290129340398".into()),
            phone_number_id: Some("106540352242922".into()),
            business_id: None,
        }
    }
}

/// Why a closed workspace is reopened.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ReopenWorkspaceRequest {
    /// Why, kept as the workspace's status reason.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

impl Example for ReopenWorkspaceRequest {
    fn example() -> Self {
        Self {
            reason: "closed by mistake; ticket OPS-1182".into(),
        }
    }
}

#[derive(ApiResponse)]
enum CreateWorkspaceResponse {
    /// Created, in status `onboarding`.
    #[oai(status = 201)]
    Created(Json<WorkspaceView>),
}

#[derive(ApiResponse)]
enum OnboardingResponse {
    /// The onboarding run was started; follow it at `/v1/runs/{id}`.
    #[oai(status = 201)]
    Started(Json<RunView>),
}

impl From<WorkspaceError> for ApiError {
    fn from(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::Invalid(detail) => ApiError::unprocessable("invalid-workspace", detail),
            WorkspaceError::Exists(_) => ApiError::conflict("workspace-exists", error.to_string()),
            WorkspaceError::Closed(_) => ApiError::conflict("workspace-closed", error.to_string()),
            WorkspaceError::NotClosed(_) => {
                ApiError::conflict("workspace-not-closed", error.to_string())
            }
            WorkspaceError::Confined(_) => ApiError::forbidden("forbidden", error.to_string()),
            WorkspaceError::NotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            WorkspaceError::Engine(error) => error.into(),
            WorkspaceError::Database(error) => error.into(),
        }
    }
}

/// The workspace a path names; text that cannot be a workspace id names none (404, as
/// for one that does not exist).
// ApiError is what every operation returns anyway.
#[allow(clippy::result_large_err)]
pub fn workspace_id(text: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::parse(text).map_err(|_| {
        ApiError::not_found(
            "workspace-not-found",
            format!("workspace `{text}` not found"),
        )
    })
}

/// The workspaces resource.
pub struct WorkspacesApi {
    /// The engine.
    pub engine: Engine,
    /// Seals the onboarding code and PIN.
    pub secrets: SecretBox,
}

#[OpenApi(tag = "ApiTags::Workspaces")]
impl WorkspacesApi {
    /// Create a workspace
    ///
    /// A business that will connect WhatsApp. Keys confined to a workspace cannot create
    /// others.
    #[oai(
        path = "/v1/workspaces",
        method = "post",
        operation_id = "create_workspace"
    )]
    async fn create(
        &self,
        auth: ApiKey,
        body: Json<CreateWorkspaceRequest>,
    ) -> Result<CreateWorkspaceResponse, ApiError> {
        let caller = auth.require(Permission::ManageWorkspaces)?;
        let id = body
            .0
            .id
            .as_deref()
            .map(WorkspaceId::parse)
            .transpose()
            .map_err(|error| ApiError::unprocessable("invalid-workspace", error.to_string()))?;
        let row = workspaces::create(self.engine.pool(), caller, id, &body.0.name).await?;
        Ok(CreateWorkspaceResponse::Created(Json(row.into())))
    }

    /// List workspaces
    ///
    /// Every workspace the key may see (a confined key: its own).
    #[oai(
        path = "/v1/workspaces",
        method = "get",
        operation_id = "list_workspaces"
    )]
    async fn list(&self, auth: ApiKey) -> Result<Json<WorkspaceList>, ApiError> {
        let rows = workspaces::list(self.engine.pool(), &auth.0).await?;
        Ok(Json(WorkspaceList {
            items: rows.into_iter().map(WorkspaceView::from).collect(),
        }))
    }

    /// Get a workspace
    ///
    /// Its status and WhatsApp connection (never its token).
    #[oai(
        path = "/v1/workspaces/:id",
        method = "get",
        operation_id = "get_workspace"
    )]
    async fn get(&self, auth: ApiKey, id: Path<String>) -> Result<Json<WorkspaceView>, ApiError> {
        let row = workspaces::get(self.engine.pool(), &auth.0, &workspace_id(&id.0)?).await?;
        Ok(Json(row.into()))
    }

    /// Close a workspace
    ///
    /// Marks it `closed` and deletes its Meta access token and any onboarding's code and
    /// PIN; its runs, templates and audit trail stay. A closed workspace takes no new work
    /// (runs, templates, onboarding answer 409 `workspace-closed`) until an admin reopens
    /// it. Closing a closed workspace answers 409.
    #[oai(
        path = "/v1/workspaces/:id",
        method = "delete",
        operation_id = "close_workspace"
    )]
    async fn close(&self, auth: ApiKey, id: Path<String>) -> Result<Json<WorkspaceView>, ApiError> {
        let caller = auth.require(Permission::CloseWorkspaces)?;
        let row = workspaces::close(self.engine.pool(), caller, &workspace_id(&id.0)?).await?;
        Ok(Json(row.into()))
    }

    /// Reopen a workspace
    ///
    /// Undoes a close: the workspace becomes `disconnected` and takes work again (it needs
    /// a new onboarding to send, its token having been deleted). Only an admin of every
    /// workspace may reopen one; reopening a workspace that is not closed answers 409.
    #[oai(
        path = "/v1/workspaces/:id/reopen",
        method = "post",
        operation_id = "reopen_workspace"
    )]
    async fn reopen(
        &self,
        auth: ApiKey,
        id: Path<String>,
        body: Json<ReopenWorkspaceRequest>,
    ) -> Result<Json<WorkspaceView>, ApiError> {
        let caller = auth.require(Permission::CloseWorkspaces)?;
        let row = workspaces::reopen(
            self.engine.pool(),
            caller,
            &workspace_id(&id.0)?,
            &body.0.reason,
        )
        .await?;
        Ok(Json(row.into()))
    }

    /// Start onboarding
    ///
    /// Starts the onboarding workflow with what Embedded Signup returned. The code and the
    /// PIN are stored encrypted and never appear in the run, its history or the audit
    /// ledger.
    #[oai(
        path = "/v1/workspaces/:id/onboarding",
        method = "post",
        operation_id = "start_onboarding"
    )]
    async fn start_onboarding(
        &self,
        auth: ApiKey,
        id: Path<String>,
        body: Json<StartOnboardingRequest>,
    ) -> Result<OnboardingResponse, ApiError> {
        let caller = auth.require(Permission::ManageWorkspaces)?;
        let body = body.0;
        let request = OnboardingRequest {
            code: body.code,
            pin: body.pin,
            waba_id: body.waba_id,
            phone_number_id: body.phone_number_id,
            business_id: body.business_id,
        };
        let run = workspaces::start_onboarding(
            &self.engine,
            &self.secrets,
            caller,
            &workspace_id(&id.0)?,
            &request,
        )
        .await?;
        Ok(OnboardingResponse::Started(Json(run.into())))
    }
}
