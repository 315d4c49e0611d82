//! Workspace commands: create, read (under the visibility rule), close, and start
//! onboarding. The Embedded Signup code and the PIN are sealed into `onboarding_secrets`;
//! the run's input only names that row.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::store;
pub use super::store::workspaces::WorkspaceRow;
use crate::engine::commands::{IdempotencyKey, StartRun};
use crate::engine::{Engine, EngineError, Run};
use crate::security::audit::{self, AuditEntry};
use crate::security::secret_box::SecretBox;
use crate::security::{Caller, InWorkspace, ListScope};
pub use crate::store::ids::{InvalidWorkspaceId, WorkspaceId};

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
    /// A key confined to a workspace asked for what only an unconfined key may do (named).
    #[error("a key confined to a workspace cannot {0}")]
    Confined(&'static str),
    /// The workspace is closed: it takes no new work.
    #[error("workspace `{0}` is closed and takes no new work; an admin can reopen it")]
    Closed(String),
    /// Only a closed workspace can be reopened.
    #[error("workspace `{0}` is not closed")]
    NotClosed(String),
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

impl InWorkspace for WorkspaceRow {
    fn workspace(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// The workspace, if the caller may see it.
pub async fn get(
    pool: &PgPool,
    caller: &Caller,
    id: &WorkspaceId,
) -> Result<WorkspaceRow, WorkspaceError> {
    let mut conn = pool.acquire().await?;
    caller
        .visible(store::workspaces::get(&mut conn, id).await?)
        .ok_or_else(|| WorkspaceError::NotFound(id.to_string()))
}

/// The workspace, if the caller may see it and it takes new work (is not closed).
pub async fn open_for_work(
    pool: &PgPool,
    caller: &Caller,
    id: &WorkspaceId,
) -> Result<WorkspaceRow, WorkspaceError> {
    let row = get(pool, caller, id).await?;
    if row.status == "closed" {
        return Err(WorkspaceError::Closed(id.to_string()));
    }
    Ok(row)
}

/// Every workspace the caller may see, oldest first.
pub async fn list(pool: &PgPool, caller: &Caller) -> Result<Vec<WorkspaceRow>, WorkspaceError> {
    let mut conn = pool.acquire().await?;
    let scope = match caller.list_scope(None) {
        ListScope::Nothing => return Ok(vec![]),
        ListScope::All => None,
        ListScope::Workspace(id) => Some(id),
    };
    Ok(store::workspaces::list(&mut conn, scope.as_deref()).await?)
}

/// Closes a workspace: status `closed`, its Meta token and any onboarding's code and PIN
/// deleted, one audit entry, in one transaction. Its runs, templates and audit trail stay.
/// A closed workspace takes no new work: no run starts in it, no template is submitted,
/// no onboarding begins, and the steps of runs already under way cannot make it active
/// again (the store refuses to change a closed workspace's status or connection).
#[tracing::instrument(name = "close_workspace", skip_all, fields(workspace.id = %id))]
pub async fn close(
    pool: &PgPool,
    caller: &Caller,
    id: &WorkspaceId,
) -> Result<WorkspaceRow, WorkspaceError> {
    get(pool, caller, id).await?;
    let reason = format!("closed by {}", caller.person);
    if !close_with(pool, &caller.person, id, &reason).await? {
        return Err(WorkspaceError::Closed(id.to_string()));
    }
    get(pool, caller, id).await
}

/// Closes a workspace as [`close`] does, on behalf of `actor` (a domain acting on an
/// approved request), for `reason`; a workspace closed already is left as it is.
pub async fn close_on_behalf(
    pool: &PgPool,
    actor: &str,
    id: &WorkspaceId,
    reason: &str,
) -> Result<(), WorkspaceError> {
    close_with(pool, actor, id, reason).await?;
    Ok(())
}

/// Marks a workspace `disconnected` on behalf of `actor` (a disconnect request, once the
/// number is deregistered and the app unsubscribed at Meta): its token and onboarding
/// secrets are deleted, with one audit entry. A workspace closed or disconnected already
/// is left as it is.
pub async fn disconnect_on_behalf(
    pool: &PgPool,
    actor: &str,
    id: &WorkspaceId,
    reason: &str,
) -> Result<(), WorkspaceError> {
    let mut tx = pool.begin().await?;
    let was = store::workspaces::get(&mut tx, id).await?;
    if was.as_ref().is_none_or(|row| row.status == "disconnected") {
        return Ok(());
    }
    if store::workspaces::disconnect(&mut tx, id, reason).await? {
        store::workspaces::delete_onboarding_secrets_of(&mut tx, id).await?;
        let entry = AuditEntry::now(
            actor,
            "workspace.disconnected",
            format!("workspace:{id}"),
            Some(id),
            json!({}),
        );
        audit::append(&mut tx, &[entry]).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Closes the workspace with its audit entry; `false` when it was closed already.
async fn close_with(
    pool: &PgPool,
    actor: &str,
    id: &WorkspaceId,
    reason: &str,
) -> Result<bool, WorkspaceError> {
    let mut tx = pool.begin().await?;
    if !store::workspaces::close(&mut tx, id, reason).await? {
        return Ok(false);
    }
    store::workspaces::delete_onboarding_secrets_of(&mut tx, id).await?;
    let entry = AuditEntry::now(
        actor,
        "workspace.closed",
        format!("workspace:{id}"),
        Some(id),
        json!({}),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(true)
}

/// Reopens a closed workspace, as `disconnected` with `reason` as its status reason (its token was deleted when it closed, so
/// it needs a new onboarding before it can send), with its audit entry. Only an admin of
/// every workspace may: a workspace's own keys cannot undo its closing.
#[tracing::instrument(name = "reopen_workspace", skip_all, fields(workspace.id = %id))]
pub async fn reopen(
    pool: &PgPool,
    caller: &Caller,
    id: &WorkspaceId,
    reason: &str,
) -> Result<WorkspaceRow, WorkspaceError> {
    if caller.workspace_id.is_some() {
        return Err(WorkspaceError::Confined("reopen a workspace"));
    }
    get(pool, caller, id).await?;
    let mut tx = pool.begin().await?;
    let why = format!("reopened by {}: {reason}", caller.person);
    if !store::workspaces::reopen(&mut tx, id, &why).await? {
        return Err(WorkspaceError::NotClosed(id.to_string()));
    }
    let entry = AuditEntry::now(
        &caller.person,
        "workspace.reopened",
        format!("workspace:{id}"),
        Some(id),
        // The reason is free text; it is kept on the workspace, not in the ledger.
        json!({ "status": "disconnected" }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    get(pool, caller, id).await
}

/// Creates a workspace in status `onboarding`, with its audit entry. A key confined to a
/// workspace cannot create others.
pub async fn create(
    pool: &PgPool,
    caller: &Caller,
    id: Option<WorkspaceId>,
    name: &str,
) -> Result<WorkspaceRow, WorkspaceError> {
    if caller.workspace_id.is_some() {
        return Err(WorkspaceError::Confined("create workspaces"));
    }
    let id = id.unwrap_or_else(WorkspaceId::generate);
    let mut tx = pool.begin().await?;
    if store::workspaces::get(&mut tx, &id).await?.is_some() {
        return Err(WorkspaceError::Exists(id.to_string()));
    }
    match store::workspaces::insert(&mut tx, &id, name, &caller.person).await {
        Ok(row) => {
            let entry = AuditEntry::now(
                &caller.person,
                "workspace.created",
                format!("workspace:{id}"),
                Some(&id),
                json!({}),
            );
            audit::append(&mut tx, &[entry]).await?;
            tx.commit().await?;
            Ok(row)
        }
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(WorkspaceError::Exists(id.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}

/// Starts the onboarding run of a workspace.
#[tracing::instrument(name = "start_onboarding", skip_all, fields(workspace.id = %workspace_id))]
pub async fn start_onboarding(
    engine: &Engine,
    secrets: &SecretBox,
    caller: &Caller,
    workspace_id: &WorkspaceId,
    request: &OnboardingRequest,
) -> Result<Run, WorkspaceError> {
    open_for_work(engine.pool(), caller, workspace_id).await?;
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
    // The secrets and the status in one transaction that also sees a close committed
    // meanwhile (the status update then changes nothing and nothing is kept).
    let mut tx = engine.pool().begin().await?;
    store::workspaces::insert_onboarding_secrets(
        &mut tx,
        onboarding_id,
        workspace_id,
        &secrets.seal(&request.code),
        &secrets.seal(&request.pin),
    )
    .await?;
    if !store::workspaces::set_status(&mut tx, workspace_id, "onboarding", None).await? {
        return Err(WorkspaceError::Closed(workspace_id.to_string()));
    }
    tx.commit().await?;
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
            workspace_id: Some(workspace_id.clone()),
            idempotency_key: Some(IdempotencyKey::service(format!(
                "onboarding:{onboarding_id}"
            ))),
            initiator: caller.person.clone(),
        })
        .await?;
    Ok(run)
}
