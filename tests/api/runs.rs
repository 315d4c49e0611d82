//! Run behaviour through the HTTP API: happy path, retries, failures, cancel, events,
//! timeouts, idempotent starts.

use serde_json::json;

use crate::fixtures::{GATED, THREE_TASKS};
use crate::helpers::{attempts, spawn_app};

const REVIEWED: &str = r#"
name = "reviewed"
version = 1
[[steps]]
id = "prepare"
kind = "task"
handler = "builtin.noop"
params = { send_at = "2000-01-01T00:00:00Z", prepared = true }
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
on = { approved = "pause", rejected = "fail" }
[[steps]]
id = "pause"
kind = "timer"
delay = "1s"
[[steps]]
id = "finish"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_goes_through_task_approval_timer_and_task_to_success() {
    let app = spawn_app(&[("reviewed", REVIEWED)]).await;
    let id = app.start("reviewed", json!({ "customer": "C-1" })).await;
    let waiting = app.wait_at_step(&id, "review").await;
    assert_eq!(waiting["context"]["steps"]["prepare"]["prepared"], true);

    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "approve", "reason": "scope is fine" }),
            "officer-1",
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let done = app.wait_for_status(&id, "succeeded").await;
    let steps = crate::helpers::step_statuses(&done);
    assert_eq!(
        steps,
        [
            ("prepare", "succeeded"),
            ("review", "succeeded"),
            ("pause", "succeeded"),
            ("finish", "succeeded")
        ]
    );
    assert_eq!(done["steps"][1]["output"]["decided_by"], "officer-1");
    assert!(done["finished_at"].is_string());
    let kinds: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_succeeded"));
    assert!(kinds.contains(&"decision_recorded"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_approval_without_a_mapping_fails_the_run() {
    let app = spawn_app(&[("gated", GATED)]).await;
    let id = app.start("gated", json!({})).await;
    app.wait_at_step(&id, "review").await;
    let (status, _) = app
        .post_as(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "reject", "reason": "out of scope" }),
            "officer-1",
        )
        .await;
    assert_eq!(status, 200);
    let run = app.wait_for_status(&id, "failed").await;
    assert!(
        run["error"].as_str().unwrap().contains("out of scope"),
        "{run}"
    );
    assert_eq!(
        run["steps"].as_array().unwrap().len(),
        1,
        "the step after the gate never ran"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retryable_error_is_retried_with_backoff_until_it_succeeds() {
    let workflow = r#"
name = "flaky"
version = 1
[[steps]]
id = "call"
kind = "task"
handler = "builtin.fail"
params = { fail_attempts = 2, message = "upstream busy" }
retry = { max_attempts = 5, backoff = "exponential", initial = "1s", max = "4s" }
"#;
    let app = spawn_app(&[("flaky", workflow)]).await;
    let id = app.start("flaky", json!({})).await;
    let run = app.wait_for_status(&id, "succeeded").await;
    let tries = attempts(&run);
    assert_eq!(
        tries,
        [
            ("call".to_owned(), 1, "failed".to_owned()),
            ("call".to_owned(), 2, "failed".to_owned()),
            ("call".to_owned(), 3, "succeeded".to_owned())
        ]
    );
    let log = run["steps"][0]["attempt_log"].as_array().unwrap();
    let at = |i: usize, field: &str| {
        chrono::DateTime::parse_from_rfc3339(log[i][field].as_str().unwrap()).unwrap()
    };
    // Equal jitter keeps at least half of each delay: >= 0.5 s, then >= 1 s.
    assert!(at(1, "started_at") - at(0, "finished_at") >= chrono::Duration::milliseconds(500));
    assert!(at(2, "started_at") - at(1, "finished_at") >= chrono::Duration::milliseconds(1000));
    assert_eq!(log[0]["error"], "upstream busy");
    assert_eq!(log[0]["retryable"], true);
    let history: Vec<&str> = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        history
            .iter()
            .filter(|k| **k == "step_retry_scheduled")
            .count(),
        2
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_error_fails_the_run_at_once_with_the_error_recorded() {
    let workflow = r#"
name = "doomed"
version = 1
[[steps]]
id = "call"
kind = "task"
handler = "builtin.fail"
params = { fatal = true, message = "the number is not a WhatsApp number" }
retry = { max_attempts = 5, initial = "1s" }
[[steps]]
id = "never"
kind = "task"
handler = "builtin.noop"
"#;
    let app = spawn_app(&[("doomed", workflow)]).await;
    let id = app.start("doomed", json!({})).await;
    let run = app.wait_for_status(&id, "failed").await;
    assert_eq!(
        attempts(&run),
        [("call".to_owned(), 1, "failed".to_owned())]
    );
    assert_eq!(
        run["steps"][0]["error"],
        "the number is not a WhatsApp number"
    );
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("the number is not a WhatsApp number")
    );
    assert_eq!(run["steps"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_retries_fail_the_run_after_max_attempts() {
    let workflow = r#"
name = "hopeless"
version = 1
[[steps]]
id = "call"
kind = "task"
handler = "builtin.fail"
retry = { max_attempts = 2, initial = "100ms", max = "100ms" }
"#;
    let app = spawn_app(&[("hopeless", workflow)]).await;
    let id = app.start("hopeless", json!({})).await;
    let run = app.wait_for_status(&id, "failed").await;
    assert_eq!(attempts(&run).len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_waiting_run_stops_it_and_its_timer_never_fires() {
    let workflow = r#"
name = "sleepy"
version = 1
[[steps]]
id = "nap"
kind = "timer"
delay = "1s"
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;
    let app = spawn_app(&[("sleepy", workflow)]).await;
    let id = app.start("sleepy", json!({})).await;
    app.wait_at_step(&id, "nap").await;
    let (status, body) = app
        .post(
            &format!("/v1/runs/{id}/cancel"),
            &json!({ "reason": "customer withdrew" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["cancel_reason"], "customer withdrew");
    // Until the timer's job has fired (every job of the run done): it must have found a
    // stale generation and done nothing.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let jobs = crate::helpers::job_statuses(&app, &id).await;
        if !jobs.is_empty() && jobs.iter().all(|status| status == "Done") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timer's job never ran: {jobs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, run) = app.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["steps"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["steps"][0]["status"], "cancelled");

    let (again, problem) = app
        .post(
            &format!("/v1/runs/{id}/cancel"),
            &json!({ "reason": "twice" }),
        )
        .await;
    assert_eq!(again, 409, "{problem}");
    app.stop().await;
}

const ORDER_EVENT: &str = r#"
name = "await_payment"
version = 1
[[steps]]
id = "payment"
kind = "wait_event"
event = "payment_received"
correlation = "input.order_id"
timeout = "1m"
[[steps]]
id = "ship"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_event_with_the_matching_correlation_resumes_the_run_and_another_does_not() {
    let app = spawn_app(&[("await_payment", ORDER_EVENT)]).await;
    let id = app
        .start("await_payment", json!({ "order_id": "ORD-7" }))
        .await;
    app.wait_at_step(&id, "payment").await;

    let (status, receipt) = app
        .post(&format!("/v1/runs/{id}/events"), &json!({ "name": "payment_received", "correlation": "ORD-8", "payload": { "amount": 1 } }))
        .await;
    assert_eq!(status, 202, "{receipt}");
    assert_eq!(receipt["matched"], false);
    let (_, still) = app.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(still["status"], "waiting");

    let (status, receipt) = app
        .post(&format!("/v1/runs/{id}/events"), &json!({ "name": "payment_received", "correlation": "ORD-7", "payload": { "amount": 42 } }))
        .await;
    assert_eq!(status, 202);
    assert_eq!(receipt["matched"], true);
    let run = app.wait_for_status(&id, "succeeded").await;
    assert_eq!(run["context"]["steps"]["payment"]["amount"], 42);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_arrives_before_its_wait_step_is_kept_for_it() {
    let workflow = r#"
name = "early_bird"
version = 1
[[steps]]
id = "nap"
kind = "timer"
delay = "1s"
[[steps]]
id = "payment"
kind = "wait_event"
event = "paid"
correlation = "input.order_id"
"#;
    let app = spawn_app(&[("early_bird", workflow)]).await;
    let id = app.start("early_bird", json!({ "order_id": 12 })).await;
    let (_, receipt) = app
        .post(
            &format!("/v1/runs/{id}/events"),
            &json!({ "name": "paid", "correlation": "12", "payload": { "ok": true } }),
        )
        .await;
    assert_eq!(receipt["matched"], false);
    let run = app.wait_for_status(&id, "succeeded").await;
    assert_eq!(run["context"]["steps"]["payment"]["ok"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_wait_takes_its_on_timeout_path() {
    let workflow = r#"
name = "impatient"
version = 1
[[steps]]
id = "status"
kind = "wait_event"
event = "template_status"
timeout = "1s"
on_timeout = "poll"
on = { received = "succeed" }
[[steps]]
id = "poll"
kind = "task"
handler = "builtin.noop"
params = { polled = true }
"#;
    let app = spawn_app(&[("impatient", workflow)]).await;
    let id = app.start("impatient", json!({})).await;
    let run = app.wait_for_status(&id, "succeeded").await;
    assert_eq!(run["steps"][0]["status"], "timed_out");
    assert_eq!(run["steps"][1]["step_id"], "poll");
    assert_eq!(run["context"]["steps"]["poll"]["polled"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_approval_without_on_timeout_fails_the_run() {
    let workflow = r#"
name = "lapsing"
version = 1
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_lead"]
expires_after = "1s"
"#;
    let app = spawn_app(&[("lapsing", workflow)]).await;
    let id = app.start("lapsing", json!({})).await;
    let run = app.wait_for_status(&id, "failed").await;
    assert_eq!(run["steps"][0]["status"], "timed_out");
    assert!(run["error"].as_str().unwrap().contains("timed out"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timer_until_an_instant_in_the_context_waits_for_it() {
    let workflow = r#"
name = "reminder"
version = 1
[[steps]]
id = "remind"
kind = "timer"
until = "input.send_at"
[[steps]]
id = "send"
kind = "task"
handler = "builtin.noop"
"#;
    let app = spawn_app(&[("reminder", workflow)]).await;
    let send_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let id = app
        .start("reminder", json!({ "send_at": send_at.to_rfc3339() }))
        .await;
    let run = app.wait_for_status(&id, "succeeded").await;
    let finished =
        chrono::DateTime::parse_from_rfc3339(run["steps"][0]["finished_at"].as_str().unwrap())
            .unwrap();
    assert!(
        finished >= send_at,
        "the timer fired at {finished}, before {send_at}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_twice_with_one_idempotency_key_returns_the_same_run() {
    let app = spawn_app(&[("reviewed", REVIEWED)]).await;
    let body = json!({ "workflow": "reviewed", "input": {}, "idempotency_key": "order-1001" });
    let (first_status, first) = app.post("/v1/runs", &body).await;
    let (second_status, second) = app.post("/v1/runs", &body).await;
    assert_eq!(first_status, 201);
    assert_eq!(second_status, 200);
    assert_eq!(first["id"], second["id"]);
    let (_, page) = app.get("/v1/runs?workflow=reviewed").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_starts_with_one_idempotency_key_make_one_run_and_all_get_it() {
    let app = spawn_app(&[("reviewed", REVIEWED)]).await;
    let body = json!({ "workflow": "reviewed", "input": {}, "idempotency_key": "order-2002" });
    app.get("/v1/runs").await; // creates the key the requests below share
    let answers = futures::future::join_all((0..8).map(|_| app.post("/v1/runs", &body))).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == 201 || *status == 200),
        "{answers:?}"
    );
    let id = &answers[0].1["id"];
    assert!(
        answers.iter().all(|(_, run)| run["id"] == *id),
        "{answers:?}"
    );
    let (_, page) = app.get("/v1/runs?workflow=reviewed").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, run) = app.get(&format!("/v1/runs/{}", id.as_str().unwrap())).await;
    let starts = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "run_started")
        .count();
    assert_eq!(starts, 1, "one start recorded: {run:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_are_listed_newest_first_with_filters_and_a_cursor() {
    let app = spawn_app(&[("reviewed", REVIEWED)]).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.start("reviewed", json!({})).await);
    }
    let (_, page) = app.get("/v1/runs?limit=2").await;
    let first: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app.get(&format!("/v1/runs?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["items"][0]["id"], ids[0].as_str());
    assert!(rest["next_cursor"].is_null());
    // Status filter: none has succeeded yet; all three wait at their review.
    let (_, none) = app.get("/v1/runs?status=succeeded").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    for id in &ids {
        app.wait_at_step(id, "review").await;
    }
    let (_, waiting) = app.get("/v1/runs?status=waiting&limit=200").await;
    let mut found: Vec<&str> = waiting["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    found.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(found, expected, "every waiting run, and only those");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_attempt_is_retried_no_sooner_than_asked() {
    let workflow = r#"
name = "throttled"
version = 1
[[steps]]
id = "call"
kind = "task"
handler = "builtin.fail"
params = { fail_attempts = 1, message = "slow down", rate_limited_for = "2s" }
retry = { max_attempts = 3, backoff = "exponential", initial = "100ms", max = "200ms" }
"#;
    let app = spawn_app(&[("throttled", workflow)]).await;
    let id = app.start("throttled", json!({})).await;
    let run = app.wait_for_status(&id, "succeeded").await;
    let log = run["steps"][0]["attempt_log"].as_array().unwrap();
    let at = |i: usize, field: &str| {
        chrono::DateTime::parse_from_rfc3339(log[i][field].as_str().unwrap()).unwrap()
    };
    // The step's own backoff would retry after 50–100 ms; the rate limit asked for 2 s.
    assert!(at(1, "started_at") - at(0, "finished_at") >= chrono::Duration::milliseconds(2000));
    assert_eq!(log[0]["retryable"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_continues_a_run_through_task_steps_without_a_job_per_step() {
    let app = spawn_app(&[("three_tasks", THREE_TASKS)]).await;
    let id = app.start("three_tasks", json!({ "n": 1 })).await;
    let run = app.wait_for_status(&id, "succeeded").await;
    assert_eq!(
        attempts(&run),
        [
            ("a".to_owned(), 1, "succeeded".to_owned()),
            ("b".to_owned(), 1, "succeeded".to_owned()),
            ("c".to_owned(), 1, "succeeded".to_owned())
        ]
    );
    let workers: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["attempt_log"][0]["worker"].as_str().unwrap())
        .collect();
    assert!(
        workers.iter().all(|worker| *worker == workers[0]),
        "one worker ran the whole chain: {workers:?}"
    );
    let jobs = crate::helpers::job_statuses(&app, &id).await;
    assert_eq!(
        jobs.len(),
        1,
        "only the run's start enqueued a job: {jobs:?}"
    );
    app.stop().await;
}

const TIMER_FIRST: &str = r#"
name = "timer_first"
version = 1
[[steps]]
id = "nap"
kind = "timer"
delay = "2s"
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_starts_at_a_timer_is_queued_for_its_instant_and_then_finishes() {
    let app = spawn_app(&[("timer_first", TIMER_FIRST)]).await;
    let id = app.start("timer_first", json!({})).await;
    let (_, run) = app.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "waiting", "{run}");
    assert_eq!(run["current_step"], "nap", "{run}");

    // The start wrote the timer's job with it: pending, due at the step's wake-up time
    // rounded up to the whole second apalis keeps, never before.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (status, early, late): (String, bool, bool) = sqlx::query_as(
        "select j.status, j.run_at < s.wake_at, j.run_at >= s.wake_at + interval '1 second'
         from apalis.jobs j
         join run_steps s on s.run_id = (convert_from(j.job, 'UTF8')::jsonb->>'run_id')::uuid
         where s.run_id = $1::uuid and s.step_id = 'nap'",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(status, "Pending");
    assert!(!early, "the timer's job is due before the timer");
    assert!(
        !late,
        "the timer's job is due a second or more after the timer"
    );

    let done = app.wait_for_status(&id, "succeeded").await;
    let steps: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["succeeded", "succeeded"], "{done:#}");
    app.stop().await;
}
