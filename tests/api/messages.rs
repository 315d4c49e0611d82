//! Sending template messages through the sandbox, and their status webhooks arriving at the
//! service out of order, duplicated or with `delivered` skipped.

use std::time::Duration;

use bazaarstreet::meta::client::{CallContext, CallError, TemplateMessage};
use bazaarstreet::meta::{GraphClient, GraphSettings, Handling};
use bazaarstreet::security::secret_box::SecretBox;
use serde_json::json;

use crate::helpers::{PATIENCE, TestApp, spawn_app};
use crate::onboarding::{onboard, sandbox_post};

async fn ready_workspace(workspace: &str) -> (TestApp, String, String, String) {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let approval = std::fs::read_to_string("workflows/template_approval.toml").unwrap();
    let app = spawn_app(&[
        ("onboarding", onboarding.as_str()),
        ("template_approval", approval.as_str()),
    ])
    .await;
    let (_, run, _) = onboard(&app, workspace).await;
    app.wait_for_status(&run, "succeeded").await;
    let (status, created) = app
        .post(
            &format!("/v1/workspaces/{workspace}/templates"),
            &json!({ "name": "appointment_reminder", "language": "en_US", "category": "UTILITY",
                     "components": [{ "type": "BODY", "text": "Hi {{1}}, see you soon." }], "examples": ["Ana"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    app.wait_for_status(created["run_id"].as_str().unwrap(), "succeeded")
        .await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (sealed, phone): (Vec<u8>, String) =
        sqlx::query_as("select access_token_sealed, phone_number_id from workspaces where id = $1")
            .bind(workspace)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    let token = SecretBox::development().open(&sealed).unwrap();
    let address = app.sandbox_address.clone().unwrap();
    (app, token, phone, address)
}

fn client(address: &str) -> GraphClient {
    GraphClient::new(
        GraphSettings {
            base_url: address.to_owned(),
            version: "v25.0".into(),
            app_id: "1000000000000001".into(),
            app_secret: "sandbox-app-secret".into(),
        },
        None,
    )
}

fn message<'a>(to: &'a str, parameters: &'a [String]) -> TemplateMessage<'a> {
    TemplateMessage {
        to,
        template: "appointment_reminder",
        language: "en_US",
        parameters,
        callback_data: Some("reminder:1"),
        copy_code: None,
    }
}

async fn status_of(app: &TestApp, id: &str) -> Option<String> {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let status = sqlx::query_scalar("select status from message_statuses where message_id = $1")
        .bind(id)
        .fetch_optional(&pool)
        .await
        .unwrap();
    pool.close().await;
    status
}

async fn wait_status(app: &TestApp, id: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while status_of(app, id).await.as_deref() != Some(want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sent_message_is_read_even_when_its_webhooks_arrive_reordered_and_twice() {
    let (app, token, phone, address) = ready_workspace("ws_msg").await;
    let graph = client(&address);
    let ctx = CallContext::default();
    let params = vec!["Ana".to_owned()];
    let first = graph
        .send_template(&ctx, &token, &phone, &message("4915112345678", &params))
        .await
        .unwrap();
    assert!(first.id.starts_with("wamid."));
    wait_status(&app, &first.id, "read").await;

    for fault in [
        "webhook.status.reorder",
        "webhook.status.duplicate",
        "webhook.status.skip_delivered",
    ] {
        sandbox_post(&app, "/sandbox/faults", json!({ "operation": fault })).await;
    }
    let second = graph
        .send_template(&ctx, &token, &phone, &message("4915187654321", &params))
        .await
        .unwrap();
    wait_status(&app, &second.id, "read").await;
    // Reordered, `read` came first; once the late `sent` has been stored, processing it
    // must not move the status back.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let late_sent: bool = sqlx::query_scalar(
            "select exists(select 1 from webhook_events
                           where position($1 in convert_from(body, 'UTF8')) > 0
                             and position('\"sent\"' in convert_from(body, 'UTF8')) > 0)",
        )
        .bind(&second.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        if late_sent {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late `sent` never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
    bazaarstreet::whatsapp::webhooks::process_pending(&app.engine)
        .await
        .unwrap();
    assert_eq!(status_of(&app, &second.id).await.as_deref(), Some("read"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_refuses_unapproved_templates_and_a_second_message_within_six_seconds() {
    let (app, token, phone, address) = ready_workspace("ws_limits").await;
    let ctx = CallContext::default();
    let params = vec!["Ana".to_owned()];
    let mut unknown = message("4915100000001", &params);
    unknown.template = "never_submitted";
    let error = client(&address)
        .send_template(&ctx, &token, &phone, &unknown)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(132001));
    assert_eq!(error.handling(), Handling::Permanent);

    client(&address)
        .send_template(&ctx, &token, &phone, &message("4915100000002", &params))
        .await
        .unwrap();
    // A second client bypasses the first one's pacing, as another replica would.
    let error = client(&address)
        .send_template(&ctx, &token, &phone, &message("4915100000002", &params))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CallError::Graph(e) if e.code == 131056),
        "{error}"
    );
    assert!(matches!(error.handling(), Handling::RateLimited(_)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customers_button_reply_is_stored_for_the_reminders() {
    let (app, _, phone, _) = ready_workspace("ws_reply").await;
    let answer = sandbox_post(
        &app,
        "/sandbox/inbound",
        json!({ "phone_number_id": phone, "from": "4915112345678", "text": "Confirm", "button_payload": "confirm:42" }),
    )
    .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let row: Option<(String, String, String)> = sqlx::query_as(
            "select workspace_id, message_type, payload->'button'->>'payload' from inbound_messages where message_id = $1",
        )
        .bind(&id)
        .fetch_optional(&pool)
        .await
        .unwrap();
        pool.close().await;
        if let Some(row) = row {
            assert_eq!(
                row,
                ("ws_reply".into(), "button".into(), "confirm:42".into())
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
