//! Refuses requests carrying U+0000 (NUL): PostgreSQL's `text` and `jsonb` cannot store or
//! compare it, so such a request would otherwise fail on the database with a 500, perhaps
//! halfway through its work. A path or query parameter holding one (it can only arrive
//! percent-encoded, `%00`) is a 400 naming the parameter; a JSON body holding one in a
//! string or key is a 422 naming where, whatever the request's content type says.
//!
//! The webhook receiver's bodies are left alone: it stores the raw bytes, and Meta does
//! not resend a delivery that was refused.

use std::sync::Arc;

use poem::{Body, Endpoint, IntoResponse, Request, Response};

use super::problem::ApiError;
use crate::engine::InputProblem;
use crate::engine::handlers::context::first_nul;

/// Paths whose bodies are passed on unread.
const RAW_BODY_PREFIX: &str = "/webhooks/";

/// Calls `endpoint` with the request unless its path, query or JSON body holds a NUL.
pub async fn refuse_nul<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> poem::Result<Response> {
    if let Some(place) = nul_in_target(request.uri().path(), request.uri().query()) {
        return Ok(ApiError::bad_request(format!(
            "{place} holds U+0000 (NUL), which cannot be stored; leave it out"
        ))
        .into_response());
    }
    // Every body, whatever its content type says: media types are case-insensitive and
    // a parser may accept spellings a check would miss. Bodies are bounded in size.
    if !request.uri().path().starts_with(RAW_BODY_PREFIX) {
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

/// Where a request target holds a percent-encoded NUL: the path, or a query parameter by
/// name.
fn nul_in_target(path: &str, query: Option<&str>) -> Option<String> {
    const NUL: &str = "%00";
    if path.contains(NUL) {
        return Some("the path".to_owned());
    }
    query?
        .split('&')
        .find(|pair| pair.contains(NUL))
        .map(|pair| match pair.split('=').next() {
            Some(name) if !name.contains(NUL) => format!("query parameter `{name}`"),
            _ => "a query parameter's name".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::nul_in_target;

    #[test]
    fn a_percent_encoded_nul_is_found_in_the_path_or_named_in_the_query() {
        assert_eq!(
            nul_in_target("/v1/runs", Some("status=running&limit=5")),
            None
        );
        assert_eq!(nul_in_target("/v1/runs", None), None);
        assert_eq!(
            nul_in_target("/v1/workspaces/a%00b", None).as_deref(),
            Some("the path")
        );
        assert_eq!(
            nul_in_target("/v1/runs", Some("status=running&workflow=x%00y")).as_deref(),
            Some("query parameter `workflow`")
        );
        assert_eq!(
            nul_in_target("/v1/runs", Some("a%00=1")).as_deref(),
            Some("a query parameter's name")
        );
    }
}
