//! Bad input gets a clear problem body and changes nothing.

use serde_json::{Value, json};

use crate::helpers::{TESTER, spawn_app};

const STRICT: &str = r#"
name = "strict"
version = 1
input_schema = '''
{ "type": "object", "required": ["phone"],
  "properties": { "phone": { "type": "string", "pattern": "^\\+[0-9]{8,15}$" },
                  "items": { "type": "array", "items": { "type": "integer" } } } }
'''
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
quorum = 2
[[steps]]
id = "done"
kind = "task"
handler = "builtin.noop"
"#;

async fn run_count(app: &crate::helpers::TestApp) -> usize {
    let (_, page) = app.get("/v1/runs").await;
    page["items"].as_array().unwrap().len()
}

fn assert_problem(body: &Value, status: u16, kind: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://bazaarstreet.dev/problems/{kind}"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_a_400_problem_and_starts_nothing() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let response = app
        .client
        .post(format!("{}/v1/runs", app.address))
        .bearer_auth(app.token(TESTER).await)
        .header("content-type", "application/json")
        .body("{\"workflow\": \"strict\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_problem(&body, 400, "bad-request");
    assert_eq!(run_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn input_failing_the_schema_is_a_422_naming_each_pointer() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let (status, body) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "strict", "input": { "items": [1, "two"] } }),
        )
        .await;
    assert_eq!(status, 422);
    assert_problem(&body, 422, "invalid-input");
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/phone"), "{pointers:?}");
    assert!(pointers.contains(&"/items/1"), "{pointers:?}");
    let (status, _) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "strict", "input": { "phone": "12" } }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(run_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_workflows_runs_and_routes_are_404_problems() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let (status, body) = app
        .post("/v1/runs", &json!({ "workflow": "nope", "input": {} }))
        .await;
    assert_eq!(status, 404);
    assert_problem(&body, 404, "workflow-not-found");
    let (status, body) = app
        .get("/v1/runs/01a213fc-fe00-7711-85c9-b7dd09c6c778")
        .await;
    assert_eq!(status, 404);
    assert_problem(&body, 404, "run-not-found");
    let (status, body) = app.get("/v1/workflows/nope").await;
    assert_eq!(status, 404);
    assert_problem(&body, 404, "workflow-not-found");
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_problem(&body, 404, "not-found");
    let (status, body) = app.get("/v1/runs/not-a-uuid").await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decision_on_a_step_that_is_not_waiting_is_a_409() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let id = app
        .start("strict", json!({ "phone": "+4915112345678" }))
        .await;
    app.wait_at_step(&id, "review").await;
    let (status, body) = app
        .post(
            &format!("/v1/runs/{id}/steps/done/decision"),
            &json!({ "decision": "approve", "reason": "" }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/runs/{id}/steps/ghost/decision"),
            &json!({ "decision": "approve", "reason": "" }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "maybe", "reason": "" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_person_cannot_vote_twice_toward_a_quorum() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let id = app
        .start("strict", json!({ "phone": "+4915112345678" }))
        .await;
    app.wait_at_step(&id, "review").await;
    let path = format!("/v1/runs/{id}/steps/review/decision");
    let approve = json!({ "decision": "approve", "reason": "fine" });
    assert_eq!(app.post_as(&path, &approve, "ana").await.0, 200);
    let (status, body) = app.post_as(&path, &approve, "ana").await;
    assert_eq!(status, 409, "{body}");
    let (_, still) = app.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(
        still["status"], "waiting",
        "one approver must not meet a quorum of two"
    );
    assert_eq!(app.post_as(&path, &approve, "ben").await.0, 200);
    app.wait_for_status(&id, "succeeded").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_finished_run_is_a_409_and_changes_nothing() {
    let workflow = "name = \"quick\"\nversion = 1\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n";
    let app = spawn_app(&[("quick", workflow)]).await;
    let id = app.start("quick", json!({})).await;
    let before = app.wait_for_status(&id, "succeeded").await;
    let (status, body) = app
        .post(
            &format!("/v1/runs/{id}/cancel"),
            &json!({ "reason": "late" }),
        )
        .await;
    assert_eq!(status, 409);
    assert_problem(&body, 409, "conflict");
    let (_, after) = app.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(before, after);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let big = "x".repeat(70 * 1024);
    let (status, body) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "strict", "input": { "phone": big } }),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_problem(&body, 413, "payload-too-large");
    // Without Content-Length (chunked) the limit holds too.
    let chunks = futures::stream::iter((0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let response = app
        .client
        .post(format!("{}/v1/runs", app.address))
        .bearer_auth(app.token(TESTER).await)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(run_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn text_with_sql_and_html_metacharacters_is_stored_verbatim() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let nasty = "'); drop table runs; -- <script>alert(1)</script> \u{202e}";
    let (status, body) = app
        .post("/v1/runs", &json!({ "workflow": "strict", "input": { "phone": "+4915112345678", "note": nasty }, "idempotency_key": nasty }))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, run) = app
        .get(&format!("/v1/runs/{}", body["id"].as_str().unwrap()))
        .await;
    assert_eq!(run["input"]["note"], nasty);
    assert_eq!(run["idempotency_key"], nasty);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nul_character_in_a_json_body_is_a_422_naming_where_and_changes_nothing() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let input = |note: &str| json!({ "phone": "+491701234567", "note": note });

    let (status, body) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "strict", "input": input("a\u{0}b") }),
        )
        .await;
    assert_problem(&body, 422, "invalid-input");
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["pointer"], "/input/note", "{body}");
    assert_eq!(run_count(&app).await, 0, "nothing was started");

    let id = app.start("strict", input("\\u0000 only spelled out")).await;
    let waiting = app.wait_at_step(&id, "review").await;
    assert_eq!(waiting["input"]["note"], "\\u0000 only spelled out");
    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "approve", "reason": "fine\u{0}" }),
            "officer-1",
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/reason", "{body}");
    let (_, run) = app.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["steps"][0]["status"], "waiting", "{run:#}");
    assert_eq!(run["history"], waiting["history"], "no vote was recorded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nul_character_in_a_query_parameter_or_the_path_is_a_400_naming_it() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let (status, body) = app
        .get("/v1/runs?status=cancelled&workflow=a%00b&workspace_id=ws_1")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_problem(&body, 400, "bad-request");
    assert!(
        body["detail"].as_str().unwrap().contains("`workflow`"),
        "{body}"
    );
    let (status, body) = app.get("/v1/workspaces/ws%00x").await;
    assert_eq!(status, 400, "{body}");
    assert_problem(&body, 400, "bad-request");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_outside_an_enum_is_a_400_listing_the_allowed_values() {
    let app = spawn_app(&[("strict", STRICT)]).await;
    let id = uuid::Uuid::now_v7();
    let (status, body) = app
        .post(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "approved", "reason": "looks fine" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("Allowed values: approve, reject."),
        "{detail}"
    );

    let (status, body) = app
        .post("/v1/keys", &json!({ "name": "x", "role": "superuser" }))
        .await;
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "Allowed values: admin, integrator, compliance_officer, compliance_lead, auditor."
        ),
        "{detail}"
    );

    let (status, body) = app.get("/v1/runs?status=done").await;
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("Allowed values: running, waiting, succeeded, failed, cancelled."),
        "{detail}"
    );
    app.stop().await;
}
