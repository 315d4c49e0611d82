//! Refuses JSON request bodies holding U+0000 (NUL) in a string or key with 422 naming
//! where: PostgreSQL's `text` and `jsonb` cannot store it, so such a request would
//! otherwise fail on the database with a 500 halfway through its work.
//!
//! The webhook receiver is left alone: it stores the raw bytes, and Meta does not resend
//! a delivery that was refused.

use std::sync::Arc;

use poem::http::header;
use poem::{Body, Endpoint, IntoResponse, Request, Response};

use super::problem::ApiError;
use crate::engine::InputProblem;
use crate::engine::context::first_nul;

/// Paths whose bodies are passed on unread.
const RAW_BODY_PREFIX: &str = "/webhooks/";

/// Calls `endpoint` with the request unless its JSON body holds a NUL.
pub async fn refuse_nul<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> poem::Result<Response> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if json && !request.uri().path().starts_with(RAW_BODY_PREFIX) {
        let bytes = request.take_body().into_bytes().await?;
        // The escape is the only way JSON can carry a NUL; parse only when it appears.
        if bytes.windows(6).any(|window| window == b"\\u0000")
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(pointer) = first_nul(&value)
        {
            let problem = InputProblem {
                pointer,
                message: "U+0000 (NUL) cannot be stored; leave it out".to_owned(),
            };
            return Ok(ApiError::invalid(
                "invalid-input",
                "The request holds a NUL character",
                vec![problem],
            )
            .into_response());
        }
        request.set_body(Body::from_bytes(bytes));
    }
    Ok(endpoint.call(request).await?.into_response())
}
