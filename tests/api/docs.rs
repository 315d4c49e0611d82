//! Documents that cannot drift: docs/API.md's endpoint table names every operation of the
//! OpenAPI document, and docs/SECURITY.md's role matrix is what the server does, cell by
//! cell (the test reads the table and sends each cell as a request).

use bazaarstreet::security::Role;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

const REVIEW: &str = r#"
name = "review"
version = 1
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
"#;

fn read_doc(name: &str) -> String {
    std::fs::read_to_string(format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("the document exists")
}

/// Every `METHOD /path` of the committed OpenAPI document.
fn operations() -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("the committed document");
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let mut operations = Vec::new();
    for (path, methods) in document["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

/// The rows of the first Markdown table under `heading` whose first cell is a code span:
/// (`METHOD /path`, the other cells).
fn table_rows(document: &str, heading: &str) -> Vec<(String, Vec<String>)> {
    let section = document
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading}"));
    section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect();
            let operation = cells
                .first()?
                .strip_prefix('`')?
                .strip_suffix('`')?
                .to_owned();
            Some((operation, cells[1..].to_vec()))
        })
        .collect()
}

#[test]
fn api_md_lists_every_operation_of_the_openapi_document() {
    let listed: Vec<String> = table_rows(&read_doc("API.md"), "# HTTP API")
        .into_iter()
        .map(|(operation, _)| operation)
        .collect();
    let missing: Vec<String> = operations()
        .into_iter()
        .filter(|operation| !listed.contains(operation))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/API.md's endpoint table lacks {missing:?}"
    );
    for operation in &listed {
        assert!(
            operations().contains(operation),
            "docs/API.md lists {operation}, which the document does not have"
        );
    }
}

/// The request that exercises one matrix row, on the fixtures of the test below.
fn request(operation: &str, run: &str) -> (String, Value) {
    let (method, template) = operation.split_once(' ').expect("METHOD /path");
    let path = template
        .replace(
            "{id}",
            if template.starts_with("/v1/runs") {
                run
            } else {
                "ws_matrix"
            },
        )
        .replace("{name}", "review")
        .replace("{tid}", "1")
        .replace("{customer_id}", "00000000-0000-0000-0000-000000000000")
        .replace("{appointment_id}", "00000000-0000-0000-0000-000000000000");
    let by_uuid = [
        "/v1/keys/{id}",
        "/v1/people/{id}",
        "/v1/legal-holds/{id}",
        "/v1/privacy-requests/{id}",
        "/v1/authority-requests/{id}",
    ];
    let path = if by_uuid.iter().any(|prefix| template.starts_with(prefix)) {
        template.replace("{id}", "00000000-0000-0000-0000-000000000000")
    } else {
        path
    }
    .replace("{run_id}", run);
    let path = match template {
        "/v1/legal-holds/check" => format!("{path}?category=run_records"),
        "/v1/transparency" => format!("{path}?period=2026-H2"),
        _ => path,
    };
    let body = match (method, template) {
        ("POST", "/v1/runs") => json!({ "workflow": "review" }),
        ("POST", "/v1/runs/{id}/cancel") => json!({ "reason": "matrix" }),
        ("POST", "/v1/runs/{id}/events") => json!({ "name": "n", "correlation": "c" }),
        ("POST", "/v1/workspaces") => json!({ "name": "matrix" }),
        ("POST", "/v1/workspaces/{id}/onboarding") => json!({ "code": "AQx", "pin": "123456" }),
        ("POST", "/v1/workspaces/{id}/templates") => json!({
            "name": "matrix", "language": "en_US", "category": "UTILITY",
            "components": [{ "type": "BODY", "text": "Hi {{1}}." }], "examples": ["Ana"]
        }),
        ("POST", "/v1/keys") => json!({ "name": "k", "role": "auditor" }),
        ("POST", "/v1/people") => json!({ "handle": "p" }),
        ("POST", "/v1/workspaces/{id}/reopen") => json!({ "reason": "matrix" }),
        ("POST", "/v1/legal-holds") => json!({
            "kind": "litigation", "scope": { "workspace_id": "ws_matrix" },
            "reason": "matrix", "matter_ref": "m"
        }),
        ("POST", "/v1/legal-holds/{id}/release") => json!({ "reason": "matrix" }),
        ("POST", "/v1/privacy-requests") => json!({
            "kind": "deletion", "subject": { "workspace_id": "ws_matrix" },
            "requester": { "name": "M", "contact": "m@example.com", "relation": "owner" },
            "jurisdiction": "gdpr", "channel": "email"
        }),
        ("POST", "/v1/privacy-requests/{id}/decision") => json!({ "decision": "approve" }),
        ("POST", "/v1/privacy-requests/{id}/verification") => json!({ "code": "123456" }),
        ("POST", "/v1/privacy-requests/{id}/responses") => json!({
            "channel": "email", "sent_at": "2026-01-01T00:00:00Z"
        }),
        ("POST", "/v1/privacy-requests/{id}/extensions") => json!({
            "to": "2030-01-01", "reason": "matrix", "notice_at": "2026-01-01T00:00:00Z"
        }),
        ("POST", "/v1/authority-requests") => json!({
            "authority": "A", "jurisdiction": "US", "instrument": "subpoena", "reference": "r",
            "received_at": "2026-01-01T00:00:00Z",
            "requested_scope": { "workspaces": ["ws_matrix"], "categories": ["workspace_config"] }
        }),
        ("POST", "/v1/authority-requests/{id}/review") => {
            json!({ "verdict": "invalid", "reason": "matrix" })
        }
        ("POST", "/v1/authority-requests/{id}/clarification") => json!({ "note": "matrix" }),
        ("POST", "/v1/authority-requests/{id}/disclosure") => json!({ "decision": "approve" }),
        ("POST", "/v1/authority-requests/{id}/post-review") => json!({ "finding": "sound" }),
        ("POST", "/v1/workspaces/{id}/customers") => {
            json!({ "wa_id": "4915100000001", "timezone": "Europe/Berlin" })
        }
        ("POST", "/v1/workspaces/{id}/customers/{customer_id}/consent") => {
            json!({ "kind": "opt_out", "method": "api" })
        }
        ("PUT", "/v1/workspaces/{id}/reminder-policy") => json!({ "offsets": ["24h"] }),
        ("POST", "/v1/workspaces/{id}/appointments") => json!({
            "customer": { "wa_id": "4915100000001" }, "start_at": "2030-01-01T10:00:00Z",
            "duration": "30m"
        }),
        ("PATCH", "/v1/workspaces/{id}/appointments/{appointment_id}") => {
            json!({ "start_at": "2030-01-01T10:00:00Z" })
        }
        ("PUT", "/v1/retention/policies") => json!({ "policies": [{
            "category": "webhook_payloads", "workspace_status": "active",
            "keep_for": "30d", "reason": "matrix"
        }] }),
        _ => Value::Null,
    };
    (path, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_role_matrix_in_security_md_is_what_the_server_does() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    let roles = [
        ("m-admin", Role::Admin),
        ("m-integrator", Role::Integrator),
        ("m-officer", Role::ComplianceOfficer),
        ("m-lead", Role::ComplianceLead),
        ("m-auditor", Role::Auditor),
    ];
    for (name, role) in roles {
        app.create_key(name, role, None).await;
    }
    let (status, _) = app
        .post(
            "/v1/workspaces",
            &json!({ "name": "Matrix", "id": "ws_matrix" }),
        )
        .await;
    assert_eq!(status, 201);
    let run = app.start("review", json!({})).await;
    let rows = table_rows(&read_doc("SECURITY.md"), "## Roles");
    let documented: Vec<&str> = rows.iter().map(|(op, _)| op.as_str()).collect();
    for operation in operations().iter().filter(|op| op.contains(" /v1/")) {
        assert!(
            documented.contains(&operation.as_str()),
            "docs/SECURITY.md's role matrix has no row for {operation}"
        );
    }
    for (operation, cells) in &rows {
        assert_eq!(cells.len(), roles.len(), "{operation}: one cell per role");
        if cells.iter().all(|cell| cell == "step") {
            continue; // decided by each step's policy: tests/api/security.rs
        }
        let (method, _) = operation.split_once(' ').unwrap();
        let (path, body) = request(operation, &run);
        for ((name, _), cell) in roles.iter().zip(cells) {
            let mut body = body.clone();
            if path == "/v1/keys" {
                body["name"] = json!(format!("k-{name}"));
            }
            if path == "/v1/people" {
                body["handle"] = json!(format!("p-{name}"));
            }
            let (status, answer) = match method {
                "GET" => app.get_as(&path, name).await,
                "POST" => app.post_as(&path, &body, name).await,
                "DELETE" => app.delete_as(&path, name).await,
                "PUT" => app.put_as(&path, &body, name).await,
                "PATCH" => app.patch_as(&path, &body, name).await,
                other => panic!("{operation}: method {other} not covered"),
            };
            match cell.as_str() {
                "yes" => assert!(
                    !matches!(status, 401 | 403) && status < 500,
                    "{name} {operation}: documented yes, got {status} {answer}"
                ),
                "403" => {
                    assert_eq!(status, 403, "{name} {operation}: documented 403: {answer}");
                    assert_eq!(
                        answer["type"], "https://bazaarstreet.dev/problems/forbidden",
                        "{answer}"
                    );
                }
                other => panic!("{operation}: cell `{other}` is neither yes, 403 nor step"),
            }
        }
    }
    app.stop().await;
}
