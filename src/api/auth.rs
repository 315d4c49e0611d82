//! Bearer-token authentication for every `/v1` operation, and the role check each
//! operation makes before it does anything.

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::problem::ApiError;
use crate::engine::Engine;
use crate::security::keys;
use crate::security::{Caller, Permission};

/// An API key sent as `Authorization: Bearer bzs_…`. Create keys with
/// `bazaarstreet keys create` or `POST /v1/keys`.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "bzs_<48 hex>",
    checker = "authenticate"
)]
pub struct ApiKey(pub Caller);

async fn authenticate(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let engine = request
        .data::<Engine>()
        .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    match keys::authenticate(engine.pool(), &bearer.token).await {
        Ok(Some(caller)) => Ok(caller),
        Ok(None) => Err(poem::Error::from_string(
            "the API key is unknown, revoked, malformed or not yet approved by a second admin",
            StatusCode::UNAUTHORIZED,
        )),
        Err(error) => {
            tracing::error!(error = %error, "key lookup failed");
            Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// Lets a request to an operational endpoint (health, document, metrics) through when the
/// settings leave it open, or when it carries a valid key; otherwise 401. `/v1` routes
/// authenticate themselves.
pub async fn guard_operational<E: poem::Endpoint>(
    endpoint: E,
    request: Request,
    open_paths: std::sync::Arc<Vec<String>>,
) -> poem::Result<poem::Response> {
    let path = request.uri().path();
    let guarded = crate::config::OPERATIONAL_PATHS
        .iter()
        .find(|prefix| path == **prefix || path.starts_with(&format!("{prefix}/")))
        .is_some_and(|prefix| !open_paths.iter().any(|open| open == prefix));
    if guarded {
        let token = request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        authenticate(&request, Bearer { token }).await?;
    }
    // `call`, not `get_response`: errors must travel on to the problem-body handler.
    endpoint
        .call(request)
        .await
        .map(poem::IntoResponse::into_response)
}

impl ApiKey {
    /// 403 unless the caller holds `permission` (src/security/permissions.rs).
    // ApiError is what every operation returns anyway; boxing it here would only move
    // the allocation to the error path of every operation.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, permission: Permission) -> Result<&Caller, ApiError> {
        self.0
            .require(permission)
            .map_err(|refusal| ApiError::forbidden("forbidden", refusal.to_string()))
    }
}
