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
