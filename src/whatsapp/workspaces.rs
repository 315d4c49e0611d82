//! Creating workspaces and starting their onboarding. The Embedded Signup code and the
//! PIN are sealed into `onboarding_secrets`; the run's input only names that row.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::engine::commands::StartRun;
use crate::engine::{Engine, EngineError};
use crate::security::secret_box::SecretBox;
use crate::store;
use crate::store::runs::RunRow;
use crate::store::workspaces::WorkspaceRow;

/// The workflow that connects a workspace to WhatsApp.
pub const ONBOARDING_WORKFLOW: &str = "onboarding";

/// What `POST /v1/workspaces/{id}/onboarding` carries.
#[derive(Debug, Clone)]
pub struct OnboardingRequest {
    /// The Embedded Signup code (30 s, single use).
    pub code: String,
    /// The number's two-step verification PIN (6 digits).
    pub pin: String,
    /// The WABA Embedded Signup reported, if the browser passed it on.
    pub waba_id: Option<String>,
    /// The phone number Embedded Signup reported.
    pub phone_number_id: Option<String>,
    /// The business portfolio.
    pub business_id: Option<String>,
}

/// Why a workspace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A workspace with that id exists.
    #[error("workspace `{0}` already exists")]
    Exists(String),
    /// No such workspace.
    #[error("workspace `{0}` not found")]
    NotFound(String),
    /// Starting the run failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A new workspace id: `ws_` and a ULID.
pub fn new_workspace_id() -> String {
    format!("ws_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Creates a workspace in status `onboarding`.
pub async fn create(
    pool: &PgPool,
    id: Option<String>,
    name: &str,
    by: &str,
) -> Result<WorkspaceRow, WorkspaceError> {
    let id = id.unwrap_or_else(new_workspace_id);
    if id.is_empty()
        || id.len() > 100
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(WorkspaceError::Invalid(
            "a workspace id is 1 to 100 letters, digits, `_` or `-`".into(),
        ));
    }
    let mut conn = pool.acquire().await?;
    if store::workspaces::get(&mut conn, &id).await?.is_some() {
        return Err(WorkspaceError::Exists(id));
    }
    match store::workspaces::insert(&mut conn, &id, name, by).await {
        Ok(row) => Ok(row),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(WorkspaceError::Exists(id))
        }
        Err(error) => Err(error.into()),
    }
}

/// Starts the onboarding run of a workspace.
pub async fn start_onboarding(
    engine: &Engine,
    secrets: &SecretBox,
    workspace_id: &str,
    request: &OnboardingRequest,
    initiator: &str,
) -> Result<RunRow, WorkspaceError> {
    if request.pin.len() != 6 || !request.pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WorkspaceError::Invalid(
            "`pin` must be the number's 6-digit two-step verification PIN".into(),
        ));
    }
    if request.code.trim().is_empty() {
        return Err(WorkspaceError::Invalid(
            "`code` is the code Embedded Signup returned".into(),
        ));
    }
    let onboarding_id = Uuid::now_v7();
    let mut conn = engine.pool().acquire().await?;
    if store::workspaces::get(&mut conn, workspace_id)
        .await?
        .is_none()
    {
        return Err(WorkspaceError::NotFound(workspace_id.to_owned()));
    }
    store::workspaces::insert_onboarding_secrets(
        &mut conn,
        onboarding_id,
        workspace_id,
        &secrets.seal(&request.code),
        &secrets.seal(&request.pin),
    )
    .await?;
    store::workspaces::set_status(&mut conn, workspace_id, "onboarding", None).await?;
    drop(conn);
    let mut input = json!({ "workspace_id": workspace_id, "onboarding_id": onboarding_id });
    for (key, value) in [
        ("waba_id", &request.waba_id),
        ("phone_number_id", &request.phone_number_id),
        ("business_id", &request.business_id),
    ] {
        if let Some(value) = value {
            input[key] = json!(value);
        }
    }
    let (run, _) = engine
        .start_run(StartRun {
            workflow: ONBOARDING_WORKFLOW.to_owned(),
            input,
            workspace_id: Some(workspace_id.to_owned()),
            idempotency_key: Some(format!("onboarding:{onboarding_id}")),
            initiator: initiator.to_owned(),
        })
        .await?;
    Ok(run)
}
