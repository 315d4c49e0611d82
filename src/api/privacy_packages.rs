//! `GET /privacy/packages/{token}`: an access request's package, for the requester's
//! channel. Public: the link's random token is the credential, and each fetch uses one of
//! its few allowed fetches. Calls the privacy domain's commands.

use poem::http::header;
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};

use super::problem::ApiError;
use crate::engine::Engine;
use crate::privacy::packages;
use crate::security::secret_box::SecretBox;

/// `{manifest, files}`: each file's text exactly as its SHA-256 in the manifest was taken.
#[handler]
pub async fn fetch(
    engine: Data<&Engine>,
    secrets: Data<&SecretBox>,
    Path(token): Path<String>,
) -> Response {
    match packages::fetch(engine.pool(), secrets.0, &token).await {
        Ok(Some(package)) => poem::web::Json(package)
            .with_header(header::CACHE_CONTROL, "no-store")
            .into_response(),
        Ok(None) => ApiError::not_found(
            "package-not-found",
            "no package at this link: it never existed, expired, or was fetched as often as it may be",
        )
        .into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}
