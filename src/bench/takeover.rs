//! (i) Takeover after a crash: a `bazaarstreet worker` process is killed with SIGKILL in
//! the middle of a step; measured is the time from the kill until this process's workers
//! (at the default heartbeat, as a deployment runs them) have rescued the job, rerun the
//! step and finished the run. The crash tests (tests/api/crash.rs) check that it happens; this is
//! how long it takes, bounded by three missed heartbeats of the dead worker plus apalis's
//! rescue pass.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine::{Engine, RunStatus};

/// A run whose one step sleeps long enough to be killed in the middle.
pub const SLOW_STEP: (&str, &str) = (
    "slow_step",
    "name = \"slow_step\"\nversion = 1\n[[steps]]\nid = \"work\"\nkind = \"task\"\nhandler = \"builtin.sleep\"\nparams = { duration = \"2s\" }\n",
);

/// The heartbeat of the killed worker and of the rescuers: the default.
pub fn heartbeat() -> Duration {
    crate::config::Settings::default().worker_heartbeat
}

/// Kills a worker process mid-step and answers how long until the run had finished
/// elsewhere; `rescue` starts this process's workers (and is only called after the kill,
/// so the killed process is the only one that can have taken the step).
pub async fn killed_worker_takeover<R, F>(
    engine: &Engine,
    database_url: &str,
    rescue: R,
) -> Result<Duration, Box<dyn std::error::Error>>
where
    R: FnOnce() -> F,
    F: std::future::Future<Output = ()>,
{
    let workflows = tempfile::tempdir()?;
    std::fs::write(
        workflows.path().join(format!("{}.toml", SLOW_STEP.0)),
        SLOW_STEP.1,
    )?;
    let jobs = tempfile::tempdir()?;
    let mut command = Command::new(std::env::current_exe()?);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BAZAARSTREET_") {
            command.env_remove(name);
        }
    }
    let mut worker = command
        .arg("worker")
        .env("BAZAARSTREET_DATABASE_URL", database_url)
        .env("BAZAARSTREET_WORKFLOWS_DIR", workflows.path())
        .env("BAZAARSTREET_JOBS_DIR", jobs.path())
        .env(
            "BAZAARSTREET_WORKER_HEARTBEAT",
            format!("{}ms", heartbeat().as_millis()),
        )
        .env("BAZAARSTREET_DATABASE_POOL_SIZE", "4")
        .env("BAZAARSTREET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let (run, _) = engine
        .start_run(super::latency::start_request(SLOW_STEP.0, 0))
        .await?;
    let running = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let running: bool = sqlx::query_scalar(
                "select exists(select 1 from step_attempts where run_id = $1 and status = 'running')",
            )
            .bind(run.id)
            .fetch_one(engine.pool())
            .await?;
            if running {
                return Ok::<(), Box<dyn std::error::Error>>(());
            }
            if Instant::now() > deadline {
                return Err("the worker process never started the step".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let started = running.await;
    worker.kill()?;
    worker.wait()?;
    started?;
    let killed = Instant::now();
    rescue().await;
    super::wait_for_run(engine.pool(), run.id.uuid(), RunStatus::Succeeded).await?;
    Ok(killed.elapsed())
}
