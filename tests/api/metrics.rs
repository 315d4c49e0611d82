//! `/metrics`: Prometheus text with run, step, queue, approval and HTTP figures.

use serde_json::json;

use crate::helpers::spawn_app;

const FLOW: &str = r#"
name = "metered"
version = 1
[[steps]]
id = "work"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_report_runs_steps_approvals_and_requests() {
    let app = spawn_app(&[("metered", FLOW)]).await;
    let id = app.start("metered", json!({})).await;
    app.wait_at_step(&id, "review").await;
    let (status, _) = app.get("/v1/runs/not-a-uuid").await;
    assert_eq!(status, 400);

    // Open without a key, like /healthz.
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for line in [
        "bazaarstreet_runs_started_total{workflow=\"metered\"} 1",
        "bazaarstreet_runs_in_progress{workflow=\"metered\",status=\"waiting\"} 1",
        "bazaarstreet_pending_approvals 1",
        "bazaarstreet_step_duration_seconds_count{workflow=\"metered\",step=\"work\"} 1",
        // Counters of this process: other tests in it may have added to this one.
        "bazaarstreet_http_requests_total{route=\"/v1/runs/{id}\",method=\"GET\",status=\"400\"} ",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("# TYPE bazaarstreet_queue_depth gauge"));
    assert!(text.contains("bazaarstreet_oldest_pending_approval_seconds "));
    app.stop().await;
}
