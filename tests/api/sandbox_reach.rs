//! What the sandbox learned for reminders, over real HTTP: free-form text only inside the
//! 24-hour customer-service window (131047 outside it; a customer's message opens it); a
//! message to an offline phone waits, reaches it if it comes back within the template's
//! `message_send_ttl_seconds`, and is dropped after (no `delivered`, ever); and its
//! answers in the shapes of Meta's own OpenAPI description (tests/meta/schemas.json,
//! extracted by tests/meta/extract.py).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::onboarding::sandbox_post;
use crate::privacy_requests::handset;

/// Meta's response schemas, by `METHOD path status`.
fn schema(operation: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/meta/schemas.json"
    ))
    .unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all[operation].clone()
}

fn assert_shape(operation: &str, body: &Value) {
    let schema = schema(operation);
    assert!(schema.is_object(), "no schema for {operation}");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{operation}: {errors:?} in {body}");
}

struct Number {
    address: String,
    token: String,
    phone: String,
    waba: String,
}

async fn number(app: &TestApp, workspace: &str) -> Number {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (sealed, phone, waba): (Vec<u8>, String, String) = sqlx::query_as(
        "select access_token_sealed, phone_number_id, waba_id from workspaces where id = $1",
    )
    .bind(workspace)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    Number {
        address: app.sandbox_address.clone().unwrap(),
        token: bazaarstreet::security::secret_box::SecretBox::development()
            .open(&sealed)
            .unwrap(),
        phone,
        waba,
    }
}

async fn graph(
    app: &TestApp,
    n: &Number,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}/v25.0/{path}", n.address))
        .bearer_auth(&n.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn connected(workspace: &str) -> (TestApp, Number) {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let app = crate::helpers::spawn_app(&[("onboarding", onboarding.as_str())]).await;
    let (_, run, _) = crate::onboarding::onboard(&app, workspace).await;
    app.wait_for_status(&run, "succeeded").await;
    let n = number(&app, workspace).await;
    (app, n)
}

#[tokio::test(flavor = "multi_thread")]
async fn free_form_text_needs_the_customer_service_window_a_customers_message_opens() {
    let (app, n) = connected("ws_window").await;
    let text = json!({ "messaging_product": "whatsapp", "to": "4915112340001", "type": "text",
                       "text": { "body": "Your table is ready" } });
    let (status, refused) = graph(
        &app,
        &n,
        reqwest::Method::POST,
        &format!("{}/messages", n.phone),
        Some(text.clone()),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_i64()),
        (400, Some(131047)),
        "{refused}"
    );
    assert!(handset(&app, "4915112340001").await.is_empty());
    sandbox_post(
        &app,
        "/sandbox/inbound",
        json!({ "phone_number_id": n.phone, "from": "4915112340001", "text": "Is my table ready?" }),
    )
    .await;
    let (status, sent) = graph(
        &app,
        &n,
        reqwest::Method::POST,
        &format!("{}/messages", n.phone),
        Some(text),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_shape("POST /{Version}/{Phone-Number-ID}/messages 200", &sent);
    let phone = handset(&app, "4915112340001").await;
    assert_eq!(phone[0]["text"], "Your table is ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_to_an_offline_phone_waits_and_is_dropped_after_its_ttl() {
    let (app, n) = connected("ws_ttl").await;
    let (status, created) = graph(
        &app,
        &n,
        reqwest::Method::POST,
        &format!("{}/message_templates", n.waba),
        Some(
            json!({ "name": "short_lived", "language": "en_US", "category": "UTILITY",
                     "message_send_ttl_seconds": 30,
                     "components": [{ "type": "BODY", "text": "See you at {{1}}" }] }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_shape("POST /{Version}/{WABA-ID}/message_templates 200", &created);
    let (status, too_short) = graph(
        &app,
        &n,
        reqwest::Method::POST,
        &format!("{}/message_templates", n.waba),
        Some(
            json!({ "name": "too_short", "language": "en_US", "category": "UTILITY",
                     "message_send_ttl_seconds": 5, "components": [] }),
        ),
    )
    .await;
    assert_eq!(status, 400, "Meta's minimum is 30 s: {too_short}");
    // The sandbox's review approves it a moment later.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let (_, listed) = graph(
            &app,
            &n,
            reqwest::Method::GET,
            &format!("{}/message_templates", n.waba),
            None,
        )
        .await;
        let approved = listed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["name"] == "short_lived" && t["status"] == "APPROVED");
        if approved {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never approved: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, numbers) = graph(
        &app,
        &n,
        reqwest::Method::GET,
        &format!("{}/phone_numbers", n.waba),
        None,
    )
    .await;
    assert_eq!(status, 200, "{numbers}");
    assert_shape("GET /{Version}/{WABA-ID}/phone_numbers 200", &numbers);

    let to = "4915112340002";
    let connectivity = |online: bool| {
        let app = &app;
        async move {
            sandbox_post(
                app,
                &format!("/sandbox/handsets/{to}/connectivity"),
                json!({ "online": online }),
            )
            .await
        }
    };
    let send = || {
        let (app, n) = (&app, &n);
        async move {
            let body = json!({ "messaging_product": "whatsapp", "to": to, "type": "template",
                "template": { "name": "short_lived", "language": { "code": "en_US" },
                              "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "10:00" }] }] } });
            let (status, sent) = graph(
                app,
                n,
                reqwest::Method::POST,
                &format!("{}/messages", n.phone),
                Some(body),
            )
            .await;
            assert_eq!(status, 200, "{sent}");
            sent["messages"][0]["id"].as_str().unwrap().to_owned()
        }
    };
    // Back within the TTL: delivered late.
    connectivity(false).await;
    let first = send().await;
    assert!(handset(&app, to).await.is_empty());
    let back = connectivity(true).await;
    assert_eq!(back["delivered"], 1);
    assert_eq!(handset(&app, to).await[0]["id"], first.as_str());
    // Back after the TTL: dropped, never delivered.
    connectivity(false).await;
    tokio::time::sleep(Duration::from_secs(6)).await; // Meta's gap between two messages to one customer
    let second = send().await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    let back = connectivity(true).await;
    assert_eq!(back["delivered"], 0, "dropped after 30 s");
    let phone = handset(&app, to).await;
    assert_eq!(phone.len(), 1);
    assert_ne!(phone[0]["id"], second.as_str());
}
