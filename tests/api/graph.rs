//! The Graph client against the sandbox, over real HTTP: Meta's shapes, Meta's errors,
//! classification by code, faults, and call records without secrets.

use std::sync::Arc;
use std::time::Duration;

use bazaarstreet::meta::client::{CallContext, CallError};
use bazaarstreet::meta::{GraphClient, GraphSettings, Handling};
use bazaarstreet::sandbox::{self, Sandbox, SandboxSettings};
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::spawn_app;

/// A sandbox on a free port.
struct RunningSandbox {
    address: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start_sandbox(code_ttl: Duration, review_delay: Duration) -> RunningSandbox {
    let sandbox = Arc::new(Sandbox::new(SandboxSettings {
        app_id: "1234567890".into(),
        app_secret: "sandbox-secret".into(),
        code_ttl,
        review_delay,
        callback_url: None,
        verify_token: "unused".into(),
    }));
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = futures::FutureExt::shared(async move {
        let _ = stopped.await;
    });
    tokio::spawn(sandbox::serve(sandbox, acceptor, stopped));
    RunningSandbox {
        address: format!("http://127.0.0.1:{port}"),
        stop: Some(stop),
    }
}

fn client(sandbox: &RunningSandbox, recorder: Option<sqlx::PgPool>) -> GraphClient {
    GraphClient::new(
        GraphSettings {
            base_url: sandbox.address.clone(),
            version: "v25.0".into(),
            app_id: "1234567890".into(),
            app_secret: "sandbox-secret".into(),
        },
        recorder,
    )
}

async fn signup(sandbox: &RunningSandbox) -> Value {
    reqwest::Client::new()
        .post(format!("{}/sandbox/embedded-signup", sandbox.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn arm(sandbox: &RunningSandbox, fault: Value) {
    let status = reqwest::Client::new()
        .post(format!("{}/sandbox/faults", sandbox.address))
        .json(&fault)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
}

/// Signs a business up and exchanges its code: (signup answer, business token).
async fn connected(sandbox: &RunningSandbox, graph: &GraphClient) -> (Value, String) {
    let signed_up = signup(sandbox).await;
    let token = graph
        .exchange_code(&CallContext::default(), signed_up["code"].as_str().unwrap())
        .await
        .unwrap()
        .access_token;
    (signed_up, token)
}

fn graph_code(error: &CallError) -> i64 {
    error
        .code()
        .unwrap_or_else(|| panic!("not a Graph error: {error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_onboarding_calls_work_in_metas_shapes() {
    let sandbox = start_sandbox(Duration::from_secs(30), Duration::from_secs(5)).await;
    let graph = client(&sandbox, None);
    let ctx = CallContext::default();
    let signed_up = signup(&sandbox).await;
    let waba = signed_up["waba_id"].as_str().unwrap();

    let token = graph
        .exchange_code(&ctx, signed_up["code"].as_str().unwrap())
        .await
        .unwrap()
        .access_token;
    let info = graph.debug_token(&ctx, &token).await.unwrap();
    assert!(info.is_valid);
    let management = info
        .granular_scopes
        .iter()
        .find(|s| s.scope == "whatsapp_business_management")
        .unwrap();
    assert_eq!(management.target_ids, [waba]);
    let numbers = graph.phone_numbers(&ctx, &token, waba).await.unwrap();
    assert_eq!(
        numbers[0].id,
        signed_up["phone_number_id"].as_str().unwrap()
    );
    graph.subscribe_app(&ctx, &token, waba).await.unwrap();
    graph
        .register_phone(&ctx, &token, &numbers[0].id, "123456")
        .await
        .unwrap();
    let bad_pin = graph
        .register_phone(&ctx, &token, &numbers[0].id, "12")
        .await
        .unwrap_err();
    assert_eq!(graph_code(&bad_pin), 100);
    // Another business's WABA does not exist for this token.
    let other = signup(&sandbox).await;
    let error = graph
        .phone_numbers(&ctx, &token, other["waba_id"].as_str().unwrap())
        .await
        .unwrap_err();
    assert_eq!(graph_code(&error), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_work_once_and_expire() {
    let sandbox = start_sandbox(Duration::from_millis(300), Duration::from_secs(5)).await;
    let graph = client(&sandbox, None);
    let ctx = CallContext::default();
    let code = signup(&sandbox).await["code"].as_str().unwrap().to_owned();
    graph.exchange_code(&ctx, &code).await.unwrap();
    let reused = graph.exchange_code(&ctx, &code).await.unwrap_err();
    assert_eq!(graph_code(&reused), 100);
    assert!(reused.to_string().contains("has been used"), "{reused}");
    assert_eq!(reused.handling(), Handling::Permanent);

    let late = signup(&sandbox).await["code"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = graph.exchange_code(&ctx, &late).await.unwrap_err();
    assert!(expired.to_string().contains("has expired"), "{expired}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eleventh_register_in_72_hours_is_133016() {
    let sandbox = start_sandbox(Duration::from_secs(30), Duration::from_secs(5)).await;
    let graph = client(&sandbox, None);
    let ctx = CallContext::default();
    let (signed_up, token) = connected(&sandbox, &graph).await;
    let phone = signed_up["phone_number_id"].as_str().unwrap();
    for _ in 0..10 {
        graph
            .register_phone(&ctx, &token, phone, "123456")
            .await
            .unwrap();
    }
    let limited = graph
        .register_phone(&ctx, &token, phone, "123456")
        .await
        .unwrap_err();
    assert_eq!(graph_code(&limited), 133016);
    assert_eq!(limited.handling(), Handling::Permanent);
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_and_bad_tokens_are_classified_by_code() {
    let sandbox = start_sandbox(Duration::from_secs(30), Duration::from_secs(5)).await;
    let graph = client(&sandbox, None);
    let ctx = CallContext::default();
    let (signed_up, token) = connected(&sandbox, &graph).await;
    let waba = signed_up["waba_id"].as_str().unwrap();

    arm(&sandbox, json!({ "operation": "waba.phone_numbers", "code": 2, "is_transient": true, "http_status": 503 })).await;
    let transient = graph.phone_numbers(&ctx, &token, waba).await.unwrap_err();
    assert_eq!(transient.handling(), Handling::Retry);
    assert!(
        graph.phone_numbers(&ctx, &token, waba).await.is_ok(),
        "the fault was armed once"
    );

    // A rate limit that arrives as HTTP 400 is still a rate limit.
    arm(
        &sandbox,
        json!({ "operation": "waba.subscribe_app", "code": 80007 }),
    )
    .await;
    let limited = graph.subscribe_app(&ctx, &token, waba).await.unwrap_err();
    assert!(matches!(limited.handling(), Handling::RateLimited(_)));

    let expired = graph
        .phone_numbers(&ctx, "EAAGnot-a-token", waba)
        .await
        .unwrap_err();
    assert_eq!(graph_code(&expired), 190);
    assert_eq!(expired.handling(), Handling::NeedsReauth);
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_go_through_review() {
    let sandbox = start_sandbox(Duration::from_secs(30), Duration::from_millis(200)).await;
    let graph = client(&sandbox, None);
    let ctx = CallContext::default();
    let (signed_up, token) = connected(&sandbox, &graph).await;
    let waba = signed_up["waba_id"].as_str().unwrap();
    let template = |name: &str| {
        json!({ "name": name, "language": "en_US", "category": "UTILITY",
                "components": [{ "type": "BODY", "text": "Hello {{1}}", "example": { "body_text": [["Ana"]] } }] })
    };
    let created = graph
        .create_template(&ctx, &token, waba, &template("appointment_reminder"))
        .await
        .unwrap();
    assert_eq!(created.status, "PENDING");
    let duplicate = graph
        .create_template(&ctx, &token, waba, &template("appointment_reminder"))
        .await
        .unwrap_err();
    match &duplicate {
        CallError::Graph(error) => assert_eq!((error.code, error.subcode), (100, Some(2388024))),
        other => panic!("{other}"),
    }
    let rejected = graph
        .create_template(&ctx, &token, waba, &template("reject_me"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        graph
            .template_status(&ctx, &token, &created.id)
            .await
            .unwrap()
            .status,
        "APPROVED"
    );
    assert_eq!(
        graph
            .template_status(&ctx, &token, &rejected.id)
            .await
            .unwrap()
            .status,
        "REJECTED"
    );
    let listed = graph
        .list_templates(&ctx, &token, waba, Some("appointment_reminder"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_is_recorded_without_secrets() {
    let app = spawn_app(&[]).await;
    let sandbox = start_sandbox(Duration::from_secs(30), Duration::from_secs(5)).await;
    let graph = client(&sandbox, Some(app.engine.pool().clone()));
    let ctx = CallContext {
        workspace_id: Some("ws_rec".into()),
        ..CallContext::default()
    };
    let signed_up = signup(&sandbox).await;
    let code = signed_up["code"].as_str().unwrap();
    let token = graph.exchange_code(&ctx, code).await.unwrap().access_token;
    let _ = graph.exchange_code(&ctx, code).await.unwrap_err();
    let rows: Vec<(String, String, Option<i64>, String)> = sqlx::query_as(
        "select operation, outcome, error_code, row_to_json(graph_calls)::text
         from graph_calls where workspace_id = 'ws_rec' order by id",
    )
    .fetch_all(app.engine.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("oauth.exchange_code", "ok")
    );
    assert_eq!((rows[1].1.as_str(), rows[1].2), ("error", Some(100)));
    for (_, _, _, text) in &rows {
        assert!(!text.contains(&token) && !text.contains(code) && !text.contains("sandbox-secret"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_can_be_deleted_except_disabled_ones() {
    let sandbox = start_sandbox(Duration::from_secs(30), Duration::from_millis(50)).await;
    let graph = client(&sandbox, None);
    let ctx = CallContext::default();
    let (signed_up, token) = connected(&sandbox, &graph).await;
    let waba = signed_up["waba_id"].as_str().unwrap().to_owned();
    let body = json!({ "name": "old_offer", "language": "en_US", "category": "MARKETING", "components": [] });
    let created = graph
        .create_template(&ctx, &token, &waba, &body)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let delete = |query: String| {
        let (http, token, url) = (
            http.clone(),
            token.clone(),
            format!("{}/v25.0/{waba}/message_templates?{query}", sandbox.address),
        );
        async move {
            http.delete(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // Disabled by Meta: refused.
    reqwest::Client::new()
        .post(format!("{}/sandbox/template-status", sandbox.address))
        .json(&json!({ "template_id": created.id, "status": "DISABLED" }))
        .send()
        .await
        .unwrap();
    assert_eq!(delete("name=old_offer".into()).await["error"]["code"], 100);
    reqwest::Client::new()
        .post(format!("{}/sandbox/template-status", sandbox.address))
        .json(&json!({ "template_id": created.id, "status": "APPROVED" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        delete(format!("name=old_offer&hsm_id={}", created.id)).await["success"],
        true
    );
    assert!(
        graph
            .list_templates(&ctx, &token, &waba, Some("old_offer"))
            .await
            .unwrap()
            .is_empty()
    );
}
