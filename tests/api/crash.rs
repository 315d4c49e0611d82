//! A worker process killed with SIGKILL mid-step: another process finishes the run.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bazaarstreet::app::Roles;
use serde_json::json;

use crate::helpers::{attempts, drop_database, fresh_database_url, spawn_app_on, write_files};

const SLOW: &str = r#"
name = "slow"
version = 1
[[steps]]
id = "work"
kind = "task"
handler = "builtin.sleep"
params = { duration = "3s" }
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;

fn worker_process(database_url: &str, workflows: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bazaarstreet"))
        .arg("worker")
        .env("BAZAARSTREET_DATABASE_URL", database_url)
        .env("BAZAARSTREET_WORKFLOWS_DIR", workflows)
        .env("BAZAARSTREET_JOBS_DIR", workflows.join("none"))
        .env("BAZAARSTREET_WORKER_HEARTBEAT", "1s")
        .env("BAZAARSTREET_DATABASE_POOL_SIZE", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker process starts")
}

/// A workflow whose slow step follows a quick one: the worker that ran `first` continues
/// the run with `work` at once, without a job of its own.
const CHAINED: &str = r#"
name = "chained"
version = 1
[[steps]]
id = "first"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "work"
kind = "task"
handler = "builtin.sleep"
params = { duration = "3s" }
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_worker_is_killed_mid_step_completes_on_another_worker_within_30_seconds() {
    killed_mid_step_completes_elsewhere("slow", SLOW, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_continued_inline_by_a_killed_worker_is_taken_over_within_30_seconds() {
    killed_mid_step_completes_elsewhere("chained", CHAINED, 1).await;
}

/// Starts `workflow`, kills the worker with SIGKILL while step number `index` (`work`)
/// runs, and checks that another worker process finishes the run within 30 s, recording
/// the cut-off attempt as abandoned.
async fn killed_mid_step_completes_elsewhere(workflow: &str, source: &str, index: usize) {
    let database_url = fresh_database_url();
    let dir = write_files(&[(workflow, source)]);
    // The API only: steps run in the worker processes below.
    let mut api = spawn_app_on(&database_url, &[(workflow, source)], &[], Roles::Api).await;
    let mut doomed = worker_process(&database_url, dir.path());
    let id = api.start(workflow, json!({})).await;
    api.wait_for_run(&id, "the slow step's first attempt running", |run| {
        run["steps"][index]["attempt_log"][0]["status"] == "running"
    })
    .await;

    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let killed_at = tokio::time::Instant::now();
    let mut rescuer = worker_process(&database_url, dir.path());

    let run = api.wait_for_status(&id, "succeeded").await;
    let elapsed = killed_at.elapsed();
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let tries: Vec<_> = attempts(&run)
        .into_iter()
        .filter(|(step, _, _)| step == "work")
        .collect();
    assert_eq!(
        tries,
        [
            ("work".to_owned(), 1, "abandoned".to_owned()),
            ("work".to_owned(), 2, "succeeded".to_owned())
        ],
        "{run:#}"
    );
    let workers: Vec<&str> = run["steps"][index]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["worker"].as_str().unwrap())
        .collect();
    assert_ne!(
        workers[0], workers[1],
        "a different process finished the step"
    );

    rescuer.kill().unwrap();
    rescuer.wait().unwrap();
    api.stop_service().await;
    drop_database(&database_url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_step_in_flight_finish_before_the_worker_exits() {
    let database_url = fresh_database_url();
    let dir = write_files(&[("slow", SLOW)]);
    let mut api = spawn_app_on(&database_url, &[("slow", SLOW)], &[], Roles::Api).await;
    let mut worker = worker_process(&database_url, dir.path());
    let id = api.start("slow", json!({})).await;
    api.wait_for_run(&id, "first attempt running", |run| {
        run["steps"][0]["attempt_log"][0]["status"] == "running"
    })
    .await;

    let status = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the worker exits cleanly: {exit:?}");

    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(
        attempts(&run),
        [("work".to_owned(), 1, "succeeded".to_owned())],
        "the attempt in flight finished instead of being cut off: {run:#}"
    );
    assert_eq!(
        run["current_step"], "after",
        "the next step is queued for another worker"
    );
    api.stop_service().await;
    drop_database(&database_url).await;
}
