//! A workflow's `sla`, enforced for every run: the run shows when it is due and where it
//! stands, `/metrics` counts unfinished runs by state, and a run past it is marked once
//! (history and ledger).

use serde_json::json;

use crate::helpers::spawn_app;

const SLOW: &str = r#"
name = "slow"
version = 1
sla = "1s"
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_past_its_sla_shows_overdue_and_is_marked_once() {
    let app = spawn_app(&[("slow", SLOW)]).await;
    let run = app.start("slow", json!({})).await;
    let detail = app.wait_at_step(&run, "review").await;
    assert!(detail["sla"]["due_at"].is_string(), "{detail}");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let (_, detail) = app.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(detail["sla"]["state"], "overdue", "{detail}");

    assert_eq!(app.engine.record_sla_breaches().await.unwrap(), 1);
    assert_eq!(
        app.engine.record_sla_breaches().await.unwrap(),
        0,
        "marked once"
    );
    let (_, detail) = app.get(&format!("/v1/runs/{run}")).await;
    let marks = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "sla_overdue")
        .count();
    assert_eq!(marks, 1, "{detail}");
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'run.sla_overdue'")
            .await,
        1
    );
    let metrics = crate::metrics::scrape(&app).await;
    assert!(
        metrics.contains("bazaarstreet_runs_sla{workflow=\"slow\",state=\"overdue\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}
