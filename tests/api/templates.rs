//! Template approval over HTTP: local validation, review results by webhook, the poll
//! fallback when a webhook is lost, and no double submission after a crash.

use bazaarstreet::meta::client::CallContext;
use bazaarstreet::meta::{GraphClient, GraphSettings};
use bazaarstreet::security::secret_box::SecretBox;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::onboarding::{onboard, sandbox_post, step};

/// A service with both workflows, the poll interval shortened to `poll`.
async fn app(poll: &str) -> TestApp {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let approval = std::fs::read_to_string("workflows/template_approval.toml")
        .unwrap()
        .replace("timeout = \"30s\"", &format!("timeout = \"{poll}\""));
    spawn_app(&[
        ("onboarding", onboarding.as_str()),
        ("template_approval", approval.as_str()),
    ])
    .await
}

async fn connected(app: &TestApp, workspace: &str) {
    let (_, run, _) = onboard(app, workspace).await;
    app.wait_for_status(&run, "succeeded").await;
}

fn template(name: &str) -> Value {
    json!({
        "name": name, "language": "en_US", "category": "UTILITY",
        "components": [{ "type": "BODY", "text": "Hi {{1}}, see you on {{2}}." }],
        "examples": ["Ana", "Friday at 10:00"],
    })
}

async fn submit(app: &TestApp, workspace: &str, body: &Value) -> Value {
    let (status, created) = app
        .post(&format!("/v1/workspaces/{workspace}/templates"), body)
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn finished(app: &TestApp, workspace: &str, created: &Value) -> (Value, Value) {
    let run = app
        .wait_for_status(created["run_id"].as_str().unwrap(), "succeeded")
        .await;
    let (_, template) = app
        .get(&format!(
            "/v1/workspaces/{workspace}/templates/{}",
            created["id"]
        ))
        .await;
    (run, template)
}

fn sources(template: &Value) -> Vec<(String, String)> {
    template["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_template_is_recorded_from_the_webhook() {
    let app = app("30s").await;
    connected(&app, "ws_tpl").await;
    let created = submit(&app, "ws_tpl", &template("appointment_reminder")).await;
    let (run, template) = finished(&app, "ws_tpl", &created).await;
    assert_eq!(template["status"], "APPROVED", "{template}");
    assert_eq!(
        sources(&template),
        [
            ("PENDING".into(), "submission".into()),
            ("APPROVED".into(), "webhook".into())
        ]
    );
    assert_eq!(step(&run, "record")["output"]["status"], "APPROVED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_template_keeps_metas_reason() {
    let app = app("30s").await;
    connected(&app, "ws_rej").await;
    // The sandbox rejects templates named `reject_…`.
    let created = submit(&app, "ws_rej", &template("reject_promo")).await;
    let (_, template) = finished(&app, "ws_rej", &created).await;
    assert_eq!(template["status"], "REJECTED");
    assert_eq!(template["reason"], "INVALID_FORMAT");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_webhook_is_lost_polling_finishes_the_run() {
    let app = app("1s").await;
    connected(&app, "ws_lost").await;
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "webhook.template_status" }),
    )
    .await;
    let created = submit(&app, "ws_lost", &template("order_update")).await;
    let (run, template) = finished(&app, "ws_lost", &created).await;
    assert_eq!(template["status"], "APPROVED");
    assert_eq!(sources(&template).last().unwrap().1, "poll", "{template}");
    assert_eq!(step(&run, "wait_review")["status"], "timed_out", "{run}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_template_gets_every_problem_at_once_and_nothing_is_stored() {
    let app = app("30s").await;
    connected(&app, "ws_bad").await;
    let (status, problem) = app
        .post(
            "/v1/workspaces/ws_bad/templates",
            &json!({
                "name": "Order Update!", "language": "english", "category": "PROMO",
                "components": [{ "type": "BODY", "text": "Hi {{2}}" }], "examples": [],
            }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["type"],
        "https://bazaarstreet.dev/problems/invalid-template"
    );
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    for expected in [
        "/name",
        "/language",
        "/category",
        "/components/0/text",
        "/examples",
    ] {
        assert!(
            pointers.contains(&expected),
            "{expected} missing: {problem}"
        );
    }
    let (_, list) = app.get("/v1/workspaces/ws_bad/templates").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "Order Update!")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submission_whose_answer_was_lost_is_not_submitted_twice() {
    let app = app("30s").await;
    connected(&app, "ws_crash").await;
    // As if an earlier attempt reached Meta and crashed before recording the answer:
    // the template exists at Meta, our row does not know its id.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (sealed, waba): (Vec<u8>, String) =
        sqlx::query_as("select access_token_sealed, waba_id from workspaces where id = 'ws_crash'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    let token = SecretBox::development().open(&sealed).unwrap();
    let graph = GraphClient::new(
        GraphSettings {
            base_url: app.sandbox_address.clone().unwrap(),
            version: "v25.0".into(),
            app_id: "1000000000000001".into(),
            app_secret: "sandbox-app-secret".into(),
        },
        None,
    );
    let ctx = CallContext::default();
    let body = json!({ "name": "visit_followup", "language": "en_US", "category": "UTILITY",
        "components": [{ "type": "BODY", "text": "Thanks {{1}}!", "example": { "body_text": [["Ana"]] } }] });
    let first = graph
        .create_template(&ctx, &token, &waba, &body)
        .await
        .unwrap();

    let mut request = template("visit_followup");
    request["components"] = json!([{ "type": "BODY", "text": "Thanks {{1}}!" }]);
    request["examples"] = json!(["Ana"]);
    let created = submit(&app, "ws_crash", &request).await;
    let (run, template) = finished(&app, "ws_crash", &created).await;
    assert_eq!(
        template["meta_template_id"],
        first.id.as_str(),
        "adopted, not resubmitted"
    );
    assert_eq!(step(&run, "submit")["attempts"], 1, "{run}");
    let at_meta = graph
        .list_templates(&ctx, &token, &waba, Some("visit_followup"))
        .await
        .unwrap();
    assert_eq!(at_meta.len(), 1, "Meta has the template once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn later_pauses_and_disabling_are_recorded_on_the_template() {
    let app = app("30s").await;
    connected(&app, "ws_pause").await;
    let created = submit(&app, "ws_pause", &template("weekly_offer")).await;
    let (_, approved) = finished(&app, "ws_pause", &created).await;
    let meta_id = approved["meta_template_id"].as_str().unwrap();
    for status in ["PAUSED", "DISABLED"] {
        sandbox_post(
            &app,
            "/sandbox/template-status",
            json!({ "template_id": meta_id, "status": status }),
        )
        .await;
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        loop {
            let (_, now) = app
                .get(&format!(
                    "/v1/workspaces/ws_pause/templates/{}",
                    created["id"]
                ))
                .await;
            if now["status"] == status {
                assert_eq!(
                    sources(&now).last().unwrap(),
                    &(status.to_owned(), "webhook".to_owned())
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {status}: {now}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    app.stop().await;
}

/// A template whose approval run ended without Meta's result (its webhook lost, the run
/// cancelled before its poll) is settled by the reconciliation job, once.
#[tokio::test(flavor = "multi_thread")]
async fn reconciliation_settles_a_template_whose_approval_run_ended_without_a_result() {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let approval = std::fs::read_to_string("workflows/template_approval.toml").unwrap();
    let reconciliation = std::fs::read_to_string("workflows/template_reconciliation.toml").unwrap();
    let app = spawn_app(&[
        ("onboarding", onboarding.as_str()),
        ("template_approval", approval.as_str()),
        ("template_reconciliation", reconciliation.as_str()),
    ])
    .await;
    connected(&app, "ws_rec").await;
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "webhook.template_status" }),
    )
    .await;
    let created = submit(&app, "ws_rec", &template("visit_reminder")).await;
    let run = created["run_id"].as_str().unwrap().to_owned();
    app.wait_at_step(&run, "wait_review").await;
    let (status, body) = app
        .post(
            &format!("/v1/runs/{run}/cancel"),
            &json!({ "reason": "test" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/v1/workspaces/ws_rec/templates/{}", created["id"]);
    assert_eq!(app.get(&path).await.1["status"], "PENDING");

    // Meta approves a moment after submission; until then a pass changes nothing.
    let reconcile = || async {
        let id = app
            .start("template_reconciliation", json!({ "quiet_seconds": 0 }))
            .await;
        let done = app.wait_for_status(&id, "succeeded").await;
        done["steps"][0]["output"].clone()
    };
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let settled = loop {
        let output = reconcile().await;
        assert_eq!(output["checked"], 1, "{output}");
        if output["changed"] == 1 {
            break output;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never settled: {output}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(settled["unreachable"], 0, "{settled}");
    let (_, settled_template) = app.get(&path).await;
    assert_eq!(settled_template["status"], "APPROVED", "{settled_template}");
    assert_eq!(
        sources(&settled_template).last().unwrap(),
        &("APPROVED".to_owned(), "reconciliation".to_owned())
    );
    let again = reconcile().await;
    assert_eq!(
        again["checked"], 0,
        "a settled template is left alone: {again}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_approval_workflow_a_template_is_refused_and_nothing_is_stored() {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let app = spawn_app(&[("onboarding", onboarding.as_str())]).await;
    connected(&app, "ws_none").await;
    let (status, problem) = app
        .post("/v1/workspaces/ws_none/templates", &template("orphan"))
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(
        problem["type"],
        "https://bazaarstreet.dev/problems/workflow-not-found"
    );
    let (_, listed) = app.get("/v1/workspaces/ws_none/templates").await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    app.stop().await;
}

/// Applying a template's status webhook and resuming its run are one transaction: when
/// the run's side fails, the delivery is not marked processed and the template keeps its
/// status, and the retry applies both, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_and_the_event_it_posts_commit_together() {
    let app = app("30s").await;
    connected(&app, "ws_atomic").await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    // Every event posted to a run fails, as a crash between the two writes would.
    for statement in [
        "create function refuse_events() returns trigger language plpgsql as $$
         begin raise exception 'event refused by the test'; end $$",
        "create trigger refuse_events before insert on run_events
         for each row execute function refuse_events()",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let created = submit(&app, "ws_atomic", &template("atomic_update")).await;
    let path = format!("/v1/workspaces/ws_atomic/templates/{}", created["id"]);
    // Wait for Meta's delivery to be stored and tried.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from webhook_events
             where processed_at is null and convert_from(body, 'UTF8') like '%atomic_update%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (_, pending) = app.get(&path).await;
    assert_eq!(
        pending["status"], "PENDING",
        "applied without its event: {pending}"
    );
    sqlx::query("drop trigger refuse_events on run_events")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (_, template) = finished(&app, "ws_atomic", &created).await;
    assert_eq!(
        sources(&template),
        [
            ("PENDING".into(), "submission".into()),
            ("APPROVED".into(), "webhook".into())
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_goes_to_meta_with_its_delivery_ttl_and_a_ttl_meta_refuses_is_422() {
    let app = app("30s").await;
    connected(&app, "ws_ttl").await;
    let mut short = template("short_reminder");
    short["message_send_ttl_seconds"] = json!(3600);
    let created = submit(&app, "ws_ttl", &short).await;
    let (_, approved) = finished(&app, "ws_ttl", &created).await;
    assert_eq!(approved["status"], "APPROVED", "{approved}");
    assert_eq!(approved["message_send_ttl_seconds"], 3600, "{approved}");

    // What Meta (the sandbox) holds: the TTL as submitted.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (sealed, waba): (Vec<u8>, String) =
        sqlx::query_as("select access_token_sealed, waba_id from workspaces where id = 'ws_ttl'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let token = SecretBox::development().open(&sealed).unwrap();
    let graph = GraphClient::new(
        GraphSettings {
            base_url: app.sandbox_address.clone().unwrap(),
            version: "v25.0".into(),
            app_id: "1000000000000001".into(),
            app_secret: "sandbox-app-secret".into(),
        },
        None,
    );
    let at_meta = graph
        .list_templates(
            &CallContext::default(),
            &token,
            &waba,
            Some("short_reminder"),
        )
        .await
        .unwrap();
    assert_eq!(at_meta[0].message_send_ttl_seconds, Some(3600));

    // A UTILITY template may not wait longer than 12 hours: refused here, nothing stored.
    let mut long = template("long_reminder");
    long["message_send_ttl_seconds"] = json!(86_400);
    let (status, problem) = app.post("/v1/workspaces/ws_ttl/templates", &long).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem.to_string().contains("/message_send_ttl_seconds"),
        "{problem}"
    );
    let stored: i64 =
        sqlx::query_scalar("select count(*) from whatsapp_templates where name = 'long_reminder'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, 0);
    pool.close().await;
    app.stop().await;
}
