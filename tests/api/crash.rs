//! A worker process killed with SIGKILL mid-step: another process finishes the run.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bazaarstreet::app::Roles;
use serde_json::json;

use crate::helpers::{
    TESTER, TestApp, attempts, drop_database, fresh_database_url, read, spawn_app_on, write_files,
};

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

/// `bazaarstreet <subcommand>` on this database and these workflows, heartbeating every
/// second.
pub(crate) fn process(
    subcommand: &str,
    database_url: &str,
    workflows: &std::path::Path,
) -> Command {
    let jobs = workflows.join("jobs");
    std::fs::create_dir_all(&jobs).expect("an empty jobs directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_bazaarstreet"));
    // The child's settings are the test's alone, never the caller's environment.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BAZAARSTREET_") {
            command.env_remove(name);
        }
    }
    command
        .arg(subcommand)
        .env("BAZAARSTREET_DATABASE_URL", database_url)
        .env("BAZAARSTREET_WORKFLOWS_DIR", workflows)
        .env("BAZAARSTREET_JOBS_DIR", jobs)
        .env("BAZAARSTREET_WORKER_HEARTBEAT", "1s")
        .env("BAZAARSTREET_DATABASE_POOL_SIZE", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn worker_process(database_url: &str, workflows: &std::path::Path) -> Child {
    process("worker", database_url, workflows)
        .spawn()
        .expect("worker process starts")
}

/// A `serve` process (API and workers) on a port it picks itself (port 0, so no other
/// process can take it between choosing and binding); answers it with its API's address,
/// read from its startup log, once it is up.
async fn serving_process(database_url: &str, workflows: &std::path::Path) -> (Child, String) {
    let mut child = process("serve", database_url, workflows)
        .env("BAZAARSTREET_LISTEN", "127.0.0.1:0")
        .env("BAZAARSTREET_META_SANDBOX_LISTEN", "127.0.0.1:0")
        .env("BAZAARSTREET_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("serving process starts");
    let port = api_port(child.stderr.take().expect("piped stderr"));
    let address = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{address}/readyz"))
        .await
        .map_or(true, |response| !response.status().is_success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve never got ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, address)
}

/// The API's port from the "API listening" line of a JSON log; the rest of the log is
/// drained in the background so the process never blocks on a full pipe.
fn api_port(stderr: std::process::ChildStderr) -> u16 {
    use std::io::BufRead;
    let (found, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Sending again after the first line is harmless: nobody receives it.
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let listening = event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("API listening"));
            if let (true, Some(port)) = (listening, event["port"].as_u64()) {
                let _ = found.send(port as u16);
            }
        }
    });
    port.recv_timeout(Duration::from_secs(60))
        .expect("serve logged the port it listens on")
}

/// Which process is killed mid-step.
enum Doomed {
    /// A `worker` process that fetched the step's job from the queue.
    Worker,
    /// A `serve` process that took the run's start request and ran its first step itself.
    StartingProcess,
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
async fn a_run_whose_worker_is_killed_mid_step_completes_on_another_worker() {
    killed_mid_step_completes_elsewhere("slow", SLOW, 0, Doomed::Worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_continued_inline_by_a_killed_worker_is_taken_over() {
    killed_mid_step_completes_elsewhere("chained", CHAINED, 1, Doomed::Worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_handed_off_at_its_start_by_a_killed_process_is_taken_over() {
    killed_mid_step_completes_elsewhere("slow", SLOW, 0, Doomed::StartingProcess).await;
}

/// Starts the process `which` and a run of `workflow` whose first step runs there;
/// answers the process and the run's id.
async fn start_in(
    api: &TestApp,
    database_url: &str,
    workflows: &std::path::Path,
    workflow: &str,
    which: Doomed,
) -> (Child, String) {
    match which {
        Doomed::Worker => {
            let worker = worker_process(database_url, workflows);
            (worker, api.start(workflow, json!({})).await)
        }
        Doomed::StartingProcess => {
            let (serving, address) = serving_process(database_url, workflows).await;
            let response = api
                .client
                .post(format!("{address}/v1/runs"))
                .bearer_auth(api.token(TESTER).await)
                .json(&json!({ "workflow": workflow, "input": {} }))
                .send()
                .await
                .expect("start sent");
            let (status, body) = read(response).await;
            assert_eq!(status, 201, "{body}");
            (serving, body["id"].as_str().unwrap().to_owned())
        }
    }
}

/// Starts `workflow`, kills the `doomed` process with SIGKILL while step number `index`
/// (`work`) runs there, and checks that another worker process finishes the run,
/// recording the cut-off attempt as abandoned and rerunning it. How long the takeover
/// takes is a figure of the benchmark's, not of this test.
async fn killed_mid_step_completes_elsewhere(
    workflow: &str,
    source: &str,
    index: usize,
    which: Doomed,
) {
    let database_url = fresh_database_url();
    let dir = write_files(&[(workflow, source)]);
    // The API only, to watch: steps run in the processes below.
    let mut api = spawn_app_on(&database_url, &[(workflow, source)], &[], Roles::Api).await;
    let handed_off = matches!(which, Doomed::StartingProcess);
    let (mut doomed, id) = start_in(&api, &database_url, dir.path(), workflow, which).await;
    let running = api
        .wait_for_run(&id, "the slow step's first attempt running", |run| {
            run["steps"][index]["attempt_log"][0]["status"] == "running"
        })
        .await;
    let first_worker = running["steps"][index]["attempt_log"][0]["worker"]
        .as_str()
        .unwrap();
    assert_eq!(
        first_worker.ends_with("-eager"),
        handed_off,
        "handed off only by the process that took the start: {first_worker}"
    );

    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let mut rescuer = worker_process(&database_url, dir.path());

    let run = api.wait_for_status(&id, "succeeded").await;
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
    sigterm_lets_the_step_in_flight_finish(Doomed::Worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_handed_off_step_finish_before_the_serving_process_exits() {
    sigterm_lets_the_step_in_flight_finish(Doomed::StartingProcess).await;
}

/// Starts a run whose first step runs in `which` process, sends that process SIGTERM
/// mid-step, and checks that the step finished and the next one was left to the queue.
async fn sigterm_lets_the_step_in_flight_finish(which: Doomed) {
    let database_url = fresh_database_url();
    let dir = write_files(&[("slow", SLOW)]);
    let mut api = spawn_app_on(&database_url, &[("slow", SLOW)], &[], Roles::Api).await;
    let (mut process, id) = start_in(&api, &database_url, dir.path(), "slow", which).await;
    api.wait_for_run(&id, "first attempt running", |run| {
        run["steps"][0]["attempt_log"][0]["status"] == "running"
    })
    .await;

    let status = Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || process.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the process exits cleanly: {exit:?}");

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

/// Two live processes whose every worker is busy with a step far longer than three
/// heartbeats: neither takes the other's work (each step runs once).
#[tokio::test(flavor = "multi_thread")]
async fn a_live_process_busy_with_long_steps_is_never_taken_over() {
    const LONG: &str = r#"
name = "long"
version = 1
[[steps]]
id = "work"
kind = "task"
handler = "builtin.sleep"
params = { duration = "4s" }
"#;
    let database_url = fresh_database_url();
    let busy = |settings: &mut bazaarstreet::config::Settings| {
        settings.worker_heartbeat = Duration::from_millis(500);
        settings.worker_concurrency = 2;
    };
    let first =
        crate::helpers::spawn_app_adjusted(&database_url, &[("long", LONG)], &[], Roles::All, busy)
            .await;
    let second =
        crate::helpers::spawn_app_adjusted(&database_url, &[("long", LONG)], &[], Roles::All, busy)
            .await;
    first.token(TESTER).await;
    second.keep_keys_of(&first);
    let mut runs = Vec::new();
    for n in 0..6 {
        let app = if n % 2 == 0 { &first } else { &second };
        runs.push(app.start("long", json!({ "n": n })).await);
    }
    for run in &runs {
        let done = first.wait_for_status(run, "succeeded").await;
        assert_eq!(
            attempts(&done).len(),
            1,
            "a live worker's step was taken over: {done}"
        );
    }
    first.stop().await;
    second.stop().await;
    drop_database(&database_url).await;
}
