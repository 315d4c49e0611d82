//! A Rust client for the Bazaarstreet Workflows API, generated at build time by
//! progenitor from `openapi/openapi.json` (the committed document the service is checked
//! against), plus two conveniences: a client that sends an API key, and reading an error
//! response as the problem body the document declares.
#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/client.rs"));

/// A client sending `Authorization: Bearer <token>` on every request.
pub fn with_token(baseurl: &str, token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .expect("a token is a valid header value");
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client");
    Client::new_with_client(baseurl, http)
}

/// The status and problem body of an error response; `None` for other errors
/// (connection failures, bodies that are not problems).
pub async fn problem(error: Error<ByteStream>) -> Option<(u16, types::Problem)> {
    let Error::ErrorResponse(response) = error else {
        return None;
    };
    let status = response.status().as_u16();
    let mut stream = response.into_inner().into_inner();
    let mut bytes = Vec::new();
    use futures_util::StreamExt;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.ok()?);
    }
    serde_json::from_slice(&bytes)
        .ok()
        .map(|body| (status, body))
}
