//! Generates the client from the committed OpenAPI document, so the client is exactly as
//! good as the document: if the document is wrong, code using this client breaks.

use std::path::Path;

fn main() {
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    let text = std::fs::read_to_string(&spec_path).expect("openapi/openapi.json is readable");
    let spec: openapiv3::OpenAPI =
        serde_json::from_str(&text).expect("openapi/openapi.json is an OpenAPI 3.0 document");
    let mut generator = progenitor::Generator::default();
    let tokens = generator
        .generate_tokens(&spec)
        .expect("progenitor accepts the document");
    let file: syn::File = syn::parse2(tokens).expect("generated code parses");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("client.rs");
    std::fs::write(out, prettyplease::unparse(&file)).expect("generated client written");
}
