//! PostgreSQL restarted under a running service: it recovers without operator action.
//!
//! Restarting the shared server would disturb every other test, so this test runs its own
//! private PostgreSQL cluster.

use std::time::Duration;

use bazaarstreet::app::Roles;
use serde_json::json;

use crate::cluster::PrivateCluster;
use crate::helpers::spawn_app_on;

const NAP: &str = r#"
name = "nap"
version = 1
[[steps]]
id = "before"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "nap"
kind = "timer"
delay = "3s"
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_service_recovers_by_itself_when_postgres_restarts_under_it() {
    let cluster = PrivateCluster::start();
    let mut app = spawn_app_on(
        &cluster.url("bazaarstreet"),
        &[("nap", NAP)],
        &[],
        Roles::All,
    )
    .await;
    let before_restart = app.start("nap", json!({})).await;
    app.wait_at_step(&before_restart, "nap").await;

    cluster.ctl(&["restart"]);

    // The run parked before the restart resumes and finishes...
    let run = app.wait_for_status(&before_restart, "succeeded").await;
    assert_eq!(run["steps"].as_array().unwrap().len(), 3);
    // ...new runs start and finish, and the service reports ready.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let after_restart = loop {
        let (status, body) = app
            .post("/v1/runs", &json!({ "workflow": "nap", "input": {} }))
            .await;
        if status == 201 {
            break body["id"].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "starts keep failing: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    app.wait_for_status(&after_restart, "succeeded").await;
    assert_eq!(app.get("/readyz").await.0, 200);
    app.stop_service().await;
}

const PARKED: &str = r#"
name = "parked"
version = 1
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
[[steps]]
id = "payment"
kind = "wait_event"
event = "payment_received"
correlation = "input.order_id"
timeout = "10m"
[[steps]]
id = "ship"
kind = "task"
handler = "builtin.noop"
"#;

/// A run parked on an approval, then on an event, survives two restarts of the service:
/// each resumes it from the database alone, nothing of the stopped process needed.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_parked_on_an_approval_or_an_event_resumes_after_the_service_restarts() {
    let database_url = crate::helpers::fresh_database_url();
    let workflows = [("parked", PARKED)];
    let mut first = spawn_app_on(&database_url, &workflows, &[], Roles::All).await;
    let id = first.start("parked", json!({ "order_id": "ORD-9" })).await;
    first.wait_at_step(&id, "review").await;
    first.token("officer").await;
    first.stop_service().await;

    let mut second = spawn_app_on(&database_url, &workflows, &[], Roles::All).await;
    second.keep_keys_of(&first);
    let (status, body) = second
        .post_as(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "approve", "reason": "after a restart" }),
            "officer",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    second.wait_at_step(&id, "payment").await;
    second.stop_service().await;

    let third = spawn_app_on(&database_url, &workflows, &[], Roles::All).await;
    third.keep_keys_of(&first);
    let (status, body) = third
        .post(
            &format!("/v1/runs/{id}/events"),
            &json!({ "name": "payment_received", "correlation": "ORD-9", "payload": { "ok": true } }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["matched"], true, "{body}");
    let run = third.wait_for_status(&id, "succeeded").await;
    let steps = crate::helpers::step_statuses(&run);
    assert_eq!(
        steps,
        [
            ("review", "succeeded"),
            ("payment", "succeeded"),
            ("ship", "succeeded")
        ],
        "{run:#}"
    );
    third.stop().await;
}
