//! Draining runs and jobs for the measurements: apalis alone (the baseline every figure
//! is compared with), the engine's workers over runs started beforehand, and waiting for
//! a count or a run's status without the polling eating into what is measured.

use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use futures::StreamExt;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::oneshot;

use super::latency::start_request;
use super::{BASELINE_QUEUE, BenchArgs};
use crate::engine::execution::worker::{WorkerSettings, run_workers};
use crate::engine::{Engine, RunStatus};

/// (a): bulk-enqueue `count` no-op jobs, then time one worker (concurrency = batch = 100,
/// the best setting measured) draining them.
pub(super) async fn baseline_drain(
    pool: &PgPool,
    count: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let tasks = chunk
            .iter()
            .map(|i| TaskBuilder::new(serde_json::to_vec(&json!(i)).unwrap_or_default()).build())
            .collect();
        let mut conn = pool.acquire().await?;
        apalis_postgres::queries::push_tasks(&mut *conn, BASELINE_QUEUE, tasks).await?;
    }
    async fn noop(_job: serde_json::Value) -> Result<(), BoxDynError> {
        Ok(())
    }
    let config = Config::default().queue(BASELINE_QUEUE).batch_size(100);
    let backend = PostgresStorage::<serde_json::Value>::new(pool)
        .with_config(config)
        .with_pubsub()
        .poll_with_strategy(Strategy::new().interval(Duration::from_millis(100)));
    let (tx, rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let monitor = tokio::spawn(
        Monitor::new()
            .register(move |_| {
                WorkerBuilder::new("bench-baseline")
                    .backend(backend.clone())
                    .concurrency(100)
                    .build(noop)
            })
            .run_with_signal(async move {
                let _ = rx.await;
                Ok(())
            }),
    );
    wait_until(
        pool,
        "select count(*) from (select 1 from apalis.jobs
                               where job_type = 'bench.noop' and status = 'Done' limit $1) as s",
        count as i64,
        Reached::AtLeast(count as i64),
    )
    .await?;
    let elapsed = started.elapsed();
    let _ = tx.send(());
    let _ = monitor.await;
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// (b), (c): start `runs` runs with no worker running, then time the workers draining them.
pub(super) async fn drain_runs(
    engine: &Engine,
    args: &BenchArgs,
    workflow: &str,
    runs: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let before: i64 =
        sqlx::query_scalar("select count(*) from runs where status in ('running', 'waiting')")
            .fetch_one(engine.pool())
            .await?;
    start_many(engine, workflow, runs).await?;
    let started = Instant::now();
    let workers = start_workers(engine, args);
    // Counts no further than it must (one past `before`), through the partial index of
    // runs in progress: polling must not eat into what it measures (counting every run in
    // progress took 6.8 ms a poll at 40,000 runs).
    wait_until(
        engine.pool(),
        "select count(*) from (select 1 from runs where status in ('running', 'waiting')
                               limit $1) as s",
        before + 1,
        Reached::AtMost(before),
    )
    .await?;
    let elapsed = started.elapsed();
    workers.stop().await;
    Ok(runs as f64 / elapsed.as_secs_f64())
}

pub(super) async fn start_many(
    engine: &Engine,
    workflow: &str,
    runs: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let results: Vec<_> = futures::stream::iter(0..runs)
        .map(|i| {
            let engine = engine.clone();
            let workflow = workflow.to_owned();
            async move { engine.start_run(start_request(&workflow, i)).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for result in results {
        result?;
    }
    Ok(())
}

pub(super) async fn wait_for_run(
    pool: &PgPool,
    id: uuid::Uuid,
    status: RunStatus,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current: String = sqlx::query_scalar("select status from runs where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
        if current == status.as_str() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("run {id} stuck in {current}").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// When a polled count means the work is done.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reached {
    /// The count has grown to at least this.
    AtLeast(i64),
    /// The count has fallen to at most this.
    AtMost(i64),
}

impl Reached {
    fn by(self, count: i64) -> bool {
        match self {
            Reached::AtLeast(target) => count >= target,
            Reached::AtMost(target) => count <= target,
        }
    }
}

/// Polls `count_query` (which counts at most `$1` = `limit` rows) until the count is
/// `reached`.
pub(super) async fn wait_until(
    pool: &PgPool,
    count_query: &'static str,
    limit: i64,
    reached: Reached,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let count: i64 = sqlx::query_scalar(count_query)
            .bind(limit)
            .fetch_one(pool)
            .await?;
        if reached.by(count) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(
                format!("not done in time: {count} by `{count_query}`, {reached:?}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Step workers with the audit chainer beside them, as `serve` runs them.
pub(super) struct RunningWorkers {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
    stop_chainer: oneshot::Sender<()>,
    chainer: tokio::task::JoinHandle<()>,
}

impl RunningWorkers {
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
        let _ = self.stop_chainer.send(());
        let _ = self.chainer.await;
    }
}

pub(super) fn start_workers(engine: &Engine, args: &BenchArgs) -> RunningWorkers {
    start_workers_beating(engine, args, Duration::from_secs(5))
}

pub(super) fn start_workers_beating(
    engine: &Engine,
    args: &BenchArgs,
    heartbeat: Duration,
) -> RunningWorkers {
    let (stop, rx) = oneshot::channel::<()>();
    let settings = WorkerSettings {
        concurrency: args.concurrency,
        fetchers: args.fetchers,
        shutdown_grace: Duration::from_secs(5),
        heartbeat,
        name_prefix: format!(
            "bench-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ),
        batch_writers: args.batch_writers,
    };
    let engine = engine.clone();
    let pool = engine.pool().clone();
    let handle = tokio::spawn(async move {
        let shutdown = Box::pin(async move {
            let _ = rx.await;
        });
        if let Err(error) = run_workers(engine, settings, shutdown).await {
            tracing::error!(error = %error, "bench workers stopped");
        }
    });
    let (stop_chainer, chainer_stopped) = oneshot::channel::<()>();
    let chainer = tokio::spawn(crate::security::audit::run_chainer(pool, async move {
        let _ = chainer_stopped.await;
    }));
    RunningWorkers {
        stop,
        handle,
        stop_chainer,
        chainer,
    }
}
