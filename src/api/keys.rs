//! `/v1/keys`: API keys, for admins. A new key's token is in the creation response only.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use crate::engine::Engine;
use crate::security::Permission;
use crate::security::Role;
use crate::security::keys::KeyRow;
use crate::security::keys::{self, Administrator, KeyError, KeyRequest};
use crate::security::{KeyId, PersonId};

/// A role.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoleName {
    /// Manages keys; reads everything.
    Admin,
    /// Starts runs, posts events.
    Integrator,
    /// Decides approval steps that name the role.
    ComplianceOfficer,
    /// Decides approval steps that name the role; cancels runs.
    ComplianceLead,
    /// Reads runs and the audit ledger.
    Auditor,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::Admin => Role::Admin,
            RoleName::Integrator => Role::Integrator,
            RoleName::ComplianceOfficer => Role::ComplianceOfficer,
            RoleName::ComplianceLead => Role::ComplianceLead,
            RoleName::Auditor => Role::Auditor,
        }
    }
}

/// A key to create.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CreateKeyRequest {
    /// Unique name of the key, never reused: lower-case letters, digits, `.`, `_`, `-`.
    /// Without `person_id` it is also the handle of the new person the key is for.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"))]
    pub name: String,
    /// Role. A key of an approving role (admin, compliance_officer, compliance_lead) works
    /// once a second admin approved it (`POST /v1/keys/{id}/approve`).
    pub role: RoleName,
    /// Confine the key to one workspace, which must exist.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub workspace_id: Option<String>,
    /// Give the key to an existing person (admins of every workspace only): it acts as
    /// them.
    pub person_id: Option<Uuid>,
}

impl Example for CreateKeyRequest {
    fn example() -> Self {
        Self {
            name: "dana.compliance".into(),
            role: RoleName::ComplianceOfficer,
            workspace_id: None,
            person_id: None,
        }
    }
}

/// A key, without its token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct KeyView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The person the key belongs to.
    pub person_id: Uuid,
    /// That person's handle: the actor recorded for what the key does.
    pub person: String,
    /// Role.
    pub role: String,
    /// Workspace the key is confined to.
    pub workspace_id: Option<String>,
    /// `active`, `pending_approval` (waits for a second admin) or `revoked`.
    pub status: String,
    /// First characters of the token, to tell keys apart.
    pub token_prefix: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

impl From<KeyRow> for KeyView {
    fn from(row: KeyRow) -> Self {
        let status = match (&row.revoked_at, &row.approved_at) {
            (Some(_), _) => "revoked",
            (None, None) => "pending_approval",
            (None, Some(_)) => "active",
        };
        Self {
            id: row.id.uuid(),
            name: row.name,
            person_id: row.person_id.uuid(),
            person: row.person,
            role: row.role,
            workspace_id: row.workspace_id.map(String::from),
            status: status.to_owned(),
            token_prefix: row.token_prefix,
            created_by: row.created_by,
            created_at: row.created_at,
            approved_by: row.approved_by,
            approved_at: row.approved_at,
            revoked_at: row.revoked_at,
            revoked_by: row.revoked_by,
        }
    }
}

/// A created key and its token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CreatedKeyView {
    /// The key.
    pub key: KeyView,
    /// The bearer token. Shown once; only its hash is stored. A key pending approval
    /// authenticates nothing until it is approved.
    pub token: String,
}

/// Keys.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KeyList {
    /// Oldest first, revoked ones included.
    pub items: Vec<KeyView>,
}

#[derive(ApiResponse)]
enum CreateKeyResponse {
    /// The key was created; keep the token, it is not shown again.
    #[oai(status = 201)]
    Created(Json<CreatedKeyView>),
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Invalid(detail) => ApiError::unprocessable("invalid-key", detail),
            KeyError::NotFound(_) => ApiError::not_found("key-not-found", error.to_string()),
            KeyError::PersonNotFound(_) => {
                ApiError::not_found("person-not-found", error.to_string())
            }
            KeyError::WorkspaceNotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            KeyError::Confined(detail) => ApiError::forbidden("forbidden", detail),
            KeyError::SeparationOfDuties(detail) => {
                ApiError::forbidden("separation-of-duties", detail)
            }
            KeyError::Conflict(detail) => ApiError::conflict("conflict", detail),
            KeyError::Database(error) => ApiError::internal(&error),
        }
    }
}

/// The keys resource.
pub struct KeysApi {
    /// The engine (for its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// Create a key
    ///
    /// Creates an API key and answers with its token, once. Without `person_id` the key is
    /// for a new person named like the key. A key of an approving role (admin,
    /// compliance_officer, compliance_lead) is `pending_approval` until an admin who is
    /// neither its creator nor its person approves it. A workspace-confined admin can only
    /// create keys in its own workspace, for new people.
    #[oai(path = "/v1/keys", method = "post", operation_id = "create_key")]
    async fn create(
        &self,
        auth: ApiKey,
        body: Json<CreateKeyRequest>,
    ) -> Result<CreateKeyResponse, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let body = body.0;
        let workspace_id = caller.target_workspace(body.workspace_id).map_err(|id| {
            ApiError::not_found("workspace-not-found", format!("workspace `{id}` not found"))
        })?;
        let request = KeyRequest {
            name: body.name,
            role: body.role.into(),
            workspace_id,
            person_id: body.person_id.map(PersonId::from),
        };
        let (row, token) =
            keys::create(self.engine.pool(), &request, Administrator::Caller(caller)).await?;
        Ok(CreateKeyResponse::Created(Json(CreatedKeyView {
            key: row.into(),
            token,
        })))
    }

    /// List keys
    ///
    /// Every key the caller may see (a workspace-confined admin sees its workspace's),
    /// revoked ones included. Tokens are never returned.
    #[oai(path = "/v1/keys", method = "get", operation_id = "list_keys")]
    async fn list(&self, auth: ApiKey) -> Result<Json<KeyList>, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let rows = keys::list(self.engine.pool(), caller.workspace_id.as_deref(), None).await?;
        Ok(Json(KeyList {
            items: rows.into_iter().map(KeyView::from).collect(),
        }))
    }

    /// Approve a key
    ///
    /// Makes a `pending_approval` key work. The approving admin must be neither the
    /// person who created the key nor the person it is for (403 `separation-of-duties`).
    #[oai(
        path = "/v1/keys/:id/approve",
        method = "post",
        operation_id = "approve_key"
    )]
    async fn approve(&self, auth: ApiKey, id: Path<Uuid>) -> Result<Json<KeyView>, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let row = keys::approve(
            self.engine.pool(),
            KeyId::from(id.0),
            Administrator::Caller(caller),
        )
        .await?;
        Ok(Json(row.into()))
    }

    /// Revoke a key
    ///
    /// The key stops working at once. Revoking a revoked or unknown key answers 404.
    #[oai(path = "/v1/keys/:id", method = "delete", operation_id = "revoke_key")]
    async fn revoke(&self, auth: ApiKey, id: Path<Uuid>) -> Result<Json<KeyView>, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let row = keys::revoke(
            self.engine.pool(),
            KeyId::from(id.0),
            Administrator::Caller(caller),
        )
        .await?;
        Ok(Json(row.into()))
    }
}
