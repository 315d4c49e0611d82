//! Steps a command makes due (a start, a decision) run in the process that committed the
//! command, handed to its eager worker, with their job held by that worker instead of
//! queued; a process without workers leaves them to the queue. A timer that fires hands
//! its run on to the task after it inline, on the job of the timer.

use std::time::Duration;

use serde_json::{Value, json};

use bazaarstreet::app::Roles;

use crate::fixtures::{GATED, THREE_TASKS};
use crate::helpers::{TestApp, drop_database, fresh_database_url, spawn_app, spawn_app_on};

/// The worker of the first attempt of step number `index`.
fn first_worker(run: &Value, index: usize) -> String {
    run["steps"][index]["attempt_log"][0]["worker"]
        .as_str()
        .unwrap_or_else(|| panic!("step {index} has an attempt: {run:#}"))
        .to_owned()
}

/// The run's step jobs as (status, locked by), once none is `Running` any more: a job is
/// ended just after the run's last change commits.
async fn jobs_of(app: &TestApp, run_id: &str) -> Vec<(String, Option<String>)> {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let jobs = loop {
        let jobs: Vec<(String, Option<String>)> = sqlx::query_as(
            "select status, lock_by from apalis.jobs
             where convert_from(job, 'UTF8')::jsonb ->> 'run_id' = $1 order by id",
        )
        .bind(run_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        let running = jobs.iter().any(|(status, _)| status == "Running");
        if !running || tokio::time::Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    pool.close().await;
    jobs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_started_run_is_carried_by_the_starting_process_with_its_one_job_held_not_queued() {
    let app = spawn_app(&[("three_tasks", THREE_TASKS)]).await;
    let id = app.start("three_tasks", json!({})).await;
    let run = app.wait_for_status(&id, "succeeded").await;

    let worker = first_worker(&run, 0);
    assert!(
        worker.ends_with("-eager"),
        "handed off at the start: {worker}"
    );
    assert_eq!(first_worker(&run, 1), worker, "and continued inline");
    assert_eq!(
        jobs_of(&app, &id).await,
        [("Done".to_owned(), Some(worker))],
        "one job, held by the eager worker from its insert and ended by it"
    );
    app.stop().await;
}

/// A timer, then a task.
const PAUSED: &str = r#"
name = "paused"
version = 1
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
async fn a_timer_that_fires_continues_with_the_task_after_it_on_the_timers_job() {
    let app = spawn_app(&[("paused", PAUSED)]).await;
    let id = app.start("paused", json!({})).await;
    let run = app.wait_for_status(&id, "succeeded").await;
    let worker = first_worker(&run, 1);
    assert_eq!(
        jobs_of(&app, &id).await,
        [("Done".to_owned(), Some(worker))],
        "the task ran on the timer's job, by the worker that woke the run: no job of its own"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_hands_the_step_after_it_to_the_deciding_process() {
    let app = spawn_app(&[("gated", GATED)]).await;
    let id = app.start("gated", json!({})).await;
    app.wait_at_step(&id, "review").await;
    assert!(
        jobs_of(&app, &id).await.is_empty(),
        "an approval without a deadline needs no job"
    );

    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{id}/steps/review/decision"),
            &json!({ "decision": "approve", "reason": "fine" }),
            "officer-1",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = app.wait_for_status(&id, "succeeded").await;

    let worker = first_worker(&run, 1);
    assert!(
        worker.ends_with("-eager"),
        "handed off by the decision: {worker}"
    );
    assert_eq!(
        jobs_of(&app, &id).await,
        [("Done".to_owned(), Some(worker))]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_without_workers_leaves_the_first_step_to_the_queue() {
    let database_url = fresh_database_url();
    let workflows = [("three_tasks", THREE_TASKS)];
    let mut api = spawn_app_on(&database_url, &workflows, &[], Roles::Api).await;
    let mut workers = spawn_app_on(&database_url, &workflows, &[], Roles::Worker).await;
    let id = api.start("three_tasks", json!({})).await;
    let run = api.wait_for_status(&id, "succeeded").await;

    let worker = first_worker(&run, 0);
    assert!(
        !worker.ends_with("-eager"),
        "fetched from the queue: {worker}"
    );
    let jobs = jobs_of(&api, &id).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0, "Done");
    workers.stop_service().await;
    api.stop_service().await;
    drop_database(&database_url).await;
}
