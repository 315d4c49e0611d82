//! The headers every console response carries: a strict Content-Security-Policy (only the
//! console's own stylesheet and script, forms posting only to itself, no framing), no
//! caching of pages that show records, no MIME sniffing, no referrer.

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};

/// What the pages may load and where forms may go.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
    script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Adds the security headers to whatever the console answers.
pub async fn secure<E: Endpoint>(endpoint: E, request: Request) -> poem::Result<Response> {
    let mut response = match endpoint.call(request).await {
        Ok(output) => output.into_response(),
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key("cache-control") {
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    Ok(response)
}
