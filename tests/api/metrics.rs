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

/// Fails once (retried), then for good: one retry, two failures, one failed run.
const FAILING: &str = r#"
name = "metered_failing"
version = 1
[[steps]]
id = "flaky"
kind = "task"
handler = "builtin.fail"
retry = { max_attempts = 2, backoff = "fixed", initial = "10ms" }
"#;

/// The value of the series `line` starts (`name{labels}`), or 0 when absent.
fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

pub async fn scrape(app: &crate::helpers::TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_report_runs_steps_approvals_and_requests() {
    let app = spawn_app(&[("metered", FLOW), ("metered_failing", FAILING)]).await;
    // Process-wide series other tests may move too: compared before and after.
    let before = scrape(&app).await;
    let bad_request =
        "bazaarstreet_http_requests_total{route=\"/v1/runs/{id}\",method=\"GET\",status=\"400\"}";
    let bad_signature = "bazaarstreet_webhooks_received_total{outcome=\"bad_signature\"}";
    let id = app.start("metered", json!({})).await;
    app.wait_at_step(&id, "review").await;
    let failing = app.start("metered_failing", json!({})).await;
    app.wait_for_status(&failing, "failed").await;
    let (status, _) = app.get("/v1/runs/not-a-uuid").await;
    assert_eq!(status, 400);
    let refused = app
        .client
        .post(format!("{}/webhooks/whatsapp", app.address))
        .header("x-hub-signature-256", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

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
    // Series of workflows only this test runs: exact.
    for line in [
        "bazaarstreet_runs_started_total{workflow=\"metered\"} 1",
        "bazaarstreet_runs_in_progress{workflow=\"metered\",status=\"waiting\"} 1",
        "bazaarstreet_pending_approvals 1",
        "bazaarstreet_step_duration_seconds_count{workflow=\"metered\",step=\"work\"} 1",
        "bazaarstreet_runs_finished_total{workflow=\"metered_failing\",status=\"failed\"} 1",
        "bazaarstreet_step_retries_total{workflow=\"metered_failing\",step=\"flaky\"} 1",
        "bazaarstreet_step_failures_total{workflow=\"metered_failing\",step=\"flaky\",kind=\"retryable\"} 1",
        "bazaarstreet_step_failures_total{workflow=\"metered_failing\",step=\"flaky\",kind=\"attempts_exhausted\"} 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(!text.contains("bazaarstreet_runs_finished_total{workflow=\"metered\""));
    for series in [bad_request, bad_signature] {
        assert!(
            value(&text, series) > value(&before, series),
            "{series} did not grow:\n{text}"
        );
    }
    assert!(text.contains("bazaarstreet_build_info{version="));
    assert!(text.contains("# TYPE bazaarstreet_queue_depth gauge"));
    assert!(text.contains("bazaarstreet_oldest_pending_approval_seconds "));
    app.stop().await;
}
