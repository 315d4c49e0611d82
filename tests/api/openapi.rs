//! The committed OpenAPI document equals what the code generates.

#[tokio::test]
async fn the_committed_openapi_document_matches_the_code() {
    let generated = bazaarstreet::api::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date; regenerate it with:\n    cargo run -- openapi > openapi/openapi.json"
    );
}
