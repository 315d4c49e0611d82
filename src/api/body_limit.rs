//! Refuses request bodies over the configured size with 413, whether or not the client
//! sent `Content-Length` (poem's own `SizeLimit` refuses requests without one, GETs too).

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};

/// A body declared over the limit is still read (and dropped) up to this many times the
/// limit, so the client sees the 413; beyond that the connection is simply closed.
const DRAIN_FACTOR: usize = 4;

/// Calls `endpoint` with the request if its body is at most `max` bytes.
pub async fn limit_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
    max: usize,
) -> poem::Result<Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    match declared {
        Some(length) if length > max => {
            // Read what the client is still sending before answering (up to a bound): a
            // response before the body is read closes the connection under a client
            // still writing, which then sees a reset instead of the 413.
            if length <= max.saturating_mul(DRAIN_FACTOR) {
                let _ = request.take_body().into_bytes_limit(length).await;
            }
            return Err(too_large(max));
        }
        Some(_) => {}
        None => {
            // No declared length (chunked): read at most `max` bytes before letting it in.
            let bytes = request
                .take_body()
                .into_bytes_limit(max)
                .await
                .map_err(|_| too_large(max))?;
            request.set_body(Body::from_bytes(bytes));
        }
    }
    Ok(endpoint.call(request).await?.into_response())
}

fn too_large(max: usize) -> poem::Error {
    poem::Error::from_string(
        format!("the request body is larger than the limit of {max} bytes"),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}
