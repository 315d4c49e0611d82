//! apalis workers that execute step jobs, run under a monitor that restarts them.
//!
//! Each process names its workers `<host>-<pid>-<fetcher>-<restart>`: a restarted worker
//! gets a new name so the jobs its predecessor held are rescued by the heartbeat check instead of
//! staying `Running` forever under a name that is still alive.
//!
//! Besides apalis's own heartbeat (driven by its fetch loop), the process beats for each of
//! its current worker names from a task of its own, so a process busy with long steps never
//! looks dead: only a process that cannot write for three heartbeats (killed, or cut off
//! from the database) has its work taken over.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use futures::future::BoxFuture;
use tracing::Instrument;

use crate::engine::Engine;
use crate::engine::execution::eager::EagerWorker;
use crate::engine::execution::executor::StepWriters;
use crate::store::jobs::{STEP_QUEUE, StepJob};

/// How a process's workers behave.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Steps executed at once by this process, shared by its fetchers.
    pub concurrency: usize,
    /// apalis workers in this process, each fetching its share of `concurrency` at a time;
    /// several let one fetch overlap the claims and completions of another batch.
    pub fetchers: usize,
    /// How long in-flight steps may run on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Heartbeat period; a worker silent for 3 heartbeats is presumed dead and its jobs
    /// are handed to others.
    pub heartbeat: Duration,
    /// Name prefix; the process id and restart count are appended.
    pub name_prefix: String,
    /// Concurrent batch writers for claims, and as many for completions.
    pub batch_writers: usize,
}

/// Most claims or completions one batch writes.
const MAX_BATCH: usize = 256;

/// Heartbeats a worker may miss before its jobs are re-enqueued.
const MISSED_HEARTBEATS: usize = 3;

/// Runs the step workers until `shutdown` resolves, then lets in-flight steps finish
/// within the grace period.
pub async fn run_workers(
    engine: Engine,
    settings: WorkerSettings,
    shutdown: BoxFuture<'static, ()>,
) -> Result<(), MonitorError> {
    Workers::start(engine, settings).await.run(shutdown).await
}

/// A process's step workers, started but not yet fetching: commands already hand steps off
/// to its eager worker.
pub struct Workers {
    engine: Engine,
    settings: WorkerSettings,
    writers: StepWriters,
    eager: Option<EagerWorker>,
}

impl Workers {
    /// Starts the batch writers and the eager worker, and hands commands' steps to it.
    pub async fn start(engine: Engine, settings: WorkerSettings) -> Self {
        let dead_after = settings.heartbeat * MISSED_HEARTBEATS as u32;
        let writers = StepWriters::spawn(&engine, settings.batch_writers, MAX_BATCH, dead_after);
        let eager = EagerWorker::start(
            &engine,
            format!("{}-eager", settings.name_prefix),
            writers.clone(),
            settings.concurrency,
            settings.heartbeat,
        )
        .await;
        let eager = match eager {
            Ok(worker) => {
                engine.hand_off_to(Some(worker.clone()));
                Some(worker)
            }
            Err(error) => {
                tracing::warn!(error = %error, "no eager worker: steps made due by commands go through the queue");
                None
            }
        };
        Self {
            engine,
            settings,
            writers,
            eager,
        }
    }

    /// Fetches and runs step jobs until `shutdown` resolves, then lets in-flight steps
    /// finish within the grace period.
    pub async fn run(self, shutdown: BoxFuture<'static, ()>) -> Result<(), MonitorError> {
        let Self {
            engine,
            settings,
            writers,
            eager,
        } = self;
        let stopping = writers.clone();
        let shutdown_began = Arc::new(OnceLock::new());
        let began = shutdown_began.clone();
        let stopping_engine = engine.clone();
        let fetchers = settings.fetchers.max(1);
        let per_fetcher = settings.concurrency.div_ceil(fetchers).max(1);
        let alive = LiveNames::default();
        let beating = alive.beat(engine.clone(), settings.heartbeat);
        let mut monitor = Monitor::new();
        for fetcher in 0..fetchers {
            let engine = engine.clone();
            let writers = writers.clone();
            let settings = settings.clone();
            let alive = alive.clone();
            monitor = monitor.register(move |restarts| {
                let name = format!("{}-{fetcher}-{restarts}", settings.name_prefix);
                alive.set(fetcher, name.clone());
                let config = Config::default()
                    .queue(STEP_QUEUE)
                    .batch_size(per_fetcher)
                    .heartbeat_interval(settings.heartbeat)
                    .missed_heartbeats(MISSED_HEARTBEATS);
                let backend = PostgresStorage::<StepJob>::new(engine.pool())
                    .with_config(config)
                    .with_pubsub()
                    .poll_with_strategy(Strategy::new().interval(Duration::from_secs(1)));
                WorkerBuilder::new(name)
                    .backend(backend)
                    .data(engine.clone())
                    .data(writers.clone())
                    .concurrency(per_fetcher)
                    .build(execute_step_job)
            });
        }
        let result = monitor
        .should_restart(|worker, error| {
            tracing::error!(worker.name = worker.name(), error = %error, "step worker stopped; restarting it");
            true
        })
        .shutdown_timeout(settings.shutdown_grace)
        .run_with_signal(async move {
            shutdown.await;
            let _ = began.set(tokio::time::Instant::now());
            stopping_engine.hand_off_to(None);
            stopping.stop_continuing();
            Ok(())
        })
        .await;
        beating.abort();
        engine.hand_off_to(None);
        if let Some(worker) = eager {
            // Handed-off steps get the same grace as the fetchers' in-flight ones.
            let began = shutdown_began
                .get()
                .copied()
                .unwrap_or_else(tokio::time::Instant::now);
            if !worker.drained(began + settings.shutdown_grace).await {
                tracing::warn!(
                    "handed-off steps still running after the grace period; their jobs will be handed to other workers"
                );
            }
        }
        result
    }
}

/// The current name of each fetcher of this process (a restart replaces it), beaten for
/// from a task that no load on the workers delays.
#[derive(Clone, Default)]
struct LiveNames(Arc<std::sync::Mutex<std::collections::BTreeMap<usize, String>>>);

impl LiveNames {
    fn set(&self, fetcher: usize, name: String) {
        self.0.lock().expect("live names").insert(fetcher, name);
    }

    /// Beats for every current name each `every` until aborted.
    fn beat(&self, engine: Engine, every: Duration) -> tokio::task::JoinHandle<()> {
        let names = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let current: Vec<String> = names
                    .0
                    .lock()
                    .expect("live names")
                    .values()
                    .cloned()
                    .collect();
                for name in current {
                    let beat = async {
                        let mut conn = engine.pool().acquire().await?;
                        crate::store::jobs::keep_alive(&mut conn, &name).await
                    };
                    if let Err(error) = beat.await {
                        tracing::warn!(worker.name = %name, error = %error, "worker heartbeat failed");
                    }
                }
            }
        })
    }
}

/// The apalis task function: hands the job to the engine.
///
/// Engine-level failures (a handler error, a stale job) are handled inside the engine and
/// never reach apalis; only infrastructure errors (the database went away) are returned, so
/// apalis runs the job again.
async fn execute_step_job(
    job: StepJob,
    engine: Data<Engine>,
    writers: Data<StepWriters>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("step", run.id = %job.run_id, step.id = %job.step_id);
    engine.execute(&writers, &job, worker.name()).instrument(span).await.map_err(|error| {
        tracing::warn!(run.id = %job.run_id, step.id = %job.step_id, error = %error, "step job failed; apalis will run it again");
        Box::new(error) as BoxDynError
    })
}
