//! `/webhooks/whatsapp`: the handshake, signatures over raw bytes, deduplication, and the
//! processing of statuses, inbound messages and account updates.

use std::time::Duration;

use bazaarstreet::meta::signature::sign;
use serde_json::{Value, json};

use crate::helpers::{PATIENCE, TestApp, read, spawn_app};

const APP_SECRET: &str = "sandbox-app-secret";

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/webhooks/whatsapp", app.address))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    read(request.send().await.unwrap()).await
}

async fn deliver_signed(app: &TestApp, payload: &Value) -> u16 {
    let body = payload.to_string().into_bytes();
    deliver(app, &body, Some(sign(APP_SECRET, &body))).await.0
}

async fn scalar(app: &TestApp, query: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let value: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    value
}

async fn text(app: &TestApp, query: &str) -> Option<String> {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let value: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_optional(&pool)
        .await
        .unwrap()
        .flatten();
    pool.close().await;
    value
}

async fn wait_processed(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while scalar(
        app,
        "select count(*) from webhook_events where processed_at is null",
    )
    .await
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never processed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn statuses(phone: &str, events: &[(&str, &str)]) -> Value {
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": "waba-1", "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": phone },
        "statuses": events.iter().map(|(id, status)| {
            let mut s = json!({ "id": id, "status": status, "timestamp": "1750030073", "recipient_id": "16505551234" });
            if *status == "failed" {
                s["errors"] = json!([{ "code": 131049, "title": "not delivered" }]);
            }
            s
        }).collect::<Vec<_>>(),
    }}]}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verification_handshake_echoes_the_challenge_only_for_our_token() {
    let app = spawn_app(&[]).await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            app.address
        )
    };
    let response = app
        .client
        .get(url("sandbox-verify-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let response = app.client.get(url("guess")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_or_badly_signed_deliveries_are_401_and_nothing_is_stored() {
    let app = spawn_app(&[]).await;
    let body = statuses("p1", &[("wamid.1", "sent")])
        .to_string()
        .into_bytes();
    let (status, problem) = deliver(&app, &body, None).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(
        problem["type"],
        "https://bazaarstreet.dev/problems/bad-webhook-signature"
    );
    assert_eq!(
        deliver(&app, &body, Some(sign("wrong-secret", &body)))
            .await
            .0,
        401
    );
    assert_eq!(deliver(&app, &body, Some("sha256=00".into())).await.0, 401);
    assert_eq!(scalar(&app, "select count(*) from webhook_events").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_ascii_payload_verifies_only_over_its_raw_bytes() {
    let app = spawn_app(&[]).await;
    // Meta sends ASCII-escaped JSON and signs those bytes.
    let escaped = br#"{"object":"whatsapp_business_account","entry":[{"id":"waba-1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"p1"},"messages":[{"id":"wamid.in1","from":"4915112345678","timestamp":"1749416383","type":"text","text":{"body":"Gr\u00fc\u00dfe, \u00e9t\u00e9 \ud83d\ude00"}}]}}]}]}"#;
    let signature = sign(APP_SECRET, escaped);
    // The same JSON re-encoded (as a framework that parses and re-serialises would) fails.
    let reencoded = serde_json::to_vec(&serde_json::from_slice::<Value>(escaped).unwrap()).unwrap();
    assert_ne!(reencoded, escaped.to_vec());
    assert_eq!(
        deliver(&app, &reencoded, Some(signature.clone())).await.0,
        401
    );
    assert_eq!(deliver(&app, escaped, Some(signature)).await.0, 200);
    wait_processed(&app).await;
    let body = text(
        &app,
        "select payload->'text'->>'body' from inbound_messages",
    )
    .await;
    assert_eq!(body.as_deref(), Some("Grüße, été 😀"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_delivery_twice_is_stored_and_processed_once() {
    let app = spawn_app(&[]).await;
    let payload = statuses("p1", &[("wamid.dup", "delivered")]);
    assert_eq!(deliver_signed(&app, &payload).await, 200);
    assert_eq!(
        deliver_signed(&app, &payload).await,
        200,
        "a duplicate is acknowledged"
    );
    wait_processed(&app).await;
    assert_eq!(scalar(&app, "select count(*) from webhook_events").await, 1);
    assert_eq!(
        scalar(&app, "select count(*) from message_statuses").await,
        1
    );
    // Whom it is about is recorded for the hold check and erasure (docs/DATA.md).
    assert_eq!(
        text(&app, "select recipient_id from message_statuses")
            .await
            .as_deref(),
        Some("16505551234")
    );
    assert_eq!(
        text(
            &app,
            "select array_to_string(customers, ',') from webhook_events"
        )
        .await
        .as_deref(),
        Some("16505551234")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn statuses_only_ever_move_forward() {
    let app = spawn_app(&[]).await;
    // Out of order across deliveries, `delivered` skipped for one, a late failure for another.
    deliver_signed(&app, &statuses("p1", &[("wamid.a", "read")])).await;
    deliver_signed(
        &app,
        &statuses("p1", &[("wamid.a", "sent"), ("wamid.b", "sent")]),
    )
    .await;
    deliver_signed(
        &app,
        &statuses("p1", &[("wamid.b", "delivered"), ("wamid.c", "failed")]),
    )
    .await;
    deliver_signed(
        &app,
        &statuses("p1", &[("wamid.b", "failed"), ("wamid.a", "delivered")]),
    )
    .await;
    wait_processed(&app).await;
    let status = |id: &'static str| {
        let app = &app;
        async move {
            text(
                app,
                &format!("select status from message_statuses where message_id = '{id}'"),
            )
            .await
        }
    };
    assert_eq!(status("wamid.a").await.as_deref(), Some("read"));
    assert_eq!(status("wamid.b").await.as_deref(), Some("delivered"));
    assert_eq!(status("wamid.c").await.as_deref(), Some("failed"));
    assert_eq!(
        scalar(
            &app,
            "select error_code from message_statuses where message_id = 'wamid.c'"
        )
        .await,
        131049
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_disconnection_marks_the_workspace_disconnected() {
    let app = spawn_app(&[]).await;
    assert_eq!(
        app.post(
            "/v1/workspaces",
            &json!({ "name": "Gone", "id": "ws_gone" })
        )
        .await
        .0,
        201
    );
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    sqlx::raw_sql("update workspaces set waba_id = 'waba-gone', status = 'active'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let payload = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "waba-gone", "time": 1751247548,
        "changes": [{ "field": "account_update", "value": { "event": "PARTNER_APP_UNINSTALLED" } }] }] });
    assert_eq!(deliver_signed(&app, &payload).await, 200);
    wait_processed(&app).await;
    let (_, workspace) = app.get("/v1/workspaces/ws_gone").await;
    assert_eq!(workspace["status"], "disconnected", "{workspace}");
    assert!(
        workspace["status_reason"]
            .as_str()
            .unwrap()
            .contains("PARTNER_APP_UNINSTALLED")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_holding_a_nul_is_processed_and_holds_up_none_behind_it() {
    let app = spawn_app(&[]).await;
    let odd = statuses("p1", &[("wamid.odd\u{0}id", "delivered")]);
    assert_eq!(deliver_signed(&app, &odd).await, 200);
    let plain = statuses("p1", &[("wamid.plain", "read")]);
    assert_eq!(deliver_signed(&app, &plain).await, 200);
    wait_processed(&app).await;
    assert_eq!(
        scalar(
            &app,
            "select count(*) from webhook_events where error is not null"
        )
        .await,
        0
    );
    assert_eq!(
        text(
            &app,
            "select status from message_statuses where message_id = 'wamid.plain'"
        )
        .await,
        Some("read".to_owned())
    );
    assert_eq!(
        text(
            &app,
            "select status from message_statuses where message_id = 'wamid.odd\u{FFFD}id'"
        )
        .await,
        Some("delivered".to_owned()),
        "stored with the NUL replaced"
    );
    app.stop().await;
}
