//! Bounds on a request's target and headers, answered with problem bodies. The HTTP server
//! (src/api/server.rs) lets through up to [`SERVER_MAX_HEADERS`] headers and hyper's own
//! URI limit (64 KiB); beyond those hyper answers 431 or 414 itself, without a body.

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};

/// Longest request target (path and query) answered.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most headers in one request.
pub const MAX_HEADERS: usize = 100;
/// Most bytes of header names and values in one request.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Headers the server parses before refusing by itself (above [`MAX_HEADERS`], so that
/// requests between the two get a problem body).
pub const SERVER_MAX_HEADERS: usize = 256;

/// Calls `endpoint` unless the request's target or headers are over the limits.
pub async fn limit_request<E: Endpoint>(endpoint: E, request: Request) -> poem::Result<Response> {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Err(poem::Error::from_string(
            format!("the request target is {uri_bytes} bytes; at most {MAX_URI_BYTES} are read"),
            StatusCode::URI_TOO_LONG,
        ));
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Err(poem::Error::from_string(
            format!(
                "the request has {} headers of {header_bytes} bytes; at most {MAX_HEADERS} \
                 headers of {MAX_HEADER_BYTES} bytes are read",
                headers.len()
            ),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ));
    }
    Ok(endpoint.call(request).await?.into_response())
}
