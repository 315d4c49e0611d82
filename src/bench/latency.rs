//! (d) and (e): how long a caller waits, on an idle engine, from asking for something to
//! the step it makes due actually running.
//!
//! The clock starts just before the caller's request (`start_run`, `decide`) and stops
//! when the step's handler is called: the `bench.mark` handler notes that instant for its
//! run. Both ends are read in this process, so the figure covers everything in between
//! (the request's own transaction, the wake-up, the claim) and nothing the database
//! clock could hide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::engine::commands::{Decision, StartRun};
use crate::engine::handlers::{HandlerCall, HandlerFuture, HandlerOutput, HandlerRegistry};
use crate::engine::{Engine, RunStatus};
use crate::security::{Caller, Role};

/// The handler that marks when it was called.
pub(super) const MARK_HANDLER: &str = "bench.mark";

/// When `bench.mark` was called, by run.
#[derive(Clone, Default)]
pub(super) struct Marks {
    called: Arc<Mutex<HashMap<Uuid, Instant>>>,
    marked: Arc<Notify>,
}

impl Marks {
    /// Registers `bench.mark` in `registry`, noting its calls here.
    pub(super) fn register(&self, registry: &mut HandlerRegistry) {
        let marks = self.clone();
        registry.register(MARK_HANDLER, move |call: HandlerCall| -> HandlerFuture {
            let at = Instant::now();
            marks
                .called
                .lock()
                .expect("marks lock")
                .insert(call.run_id.uuid(), at);
            marks.marked.notify_waiters();
            Box::pin(async move { Ok(HandlerOutput::ok(json!({}))) })
        });
    }

    /// Waits until `bench.mark` was called for `run`; answers when.
    async fn called_for(&self, run: Uuid) -> Result<Instant, Box<dyn std::error::Error>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let marked = self.marked.notified();
            if let Some(at) = self.called.lock().expect("marks lock").remove(&run) {
                return Ok(at);
            }
            if tokio::time::timeout_at(deadline, marked).await.is_err() {
                return Err(format!("run {run}: its marked step never ran").into());
            }
        }
    }
}

/// (d): one run at a time of `workflow` (its first step `bench.mark`) on idle workers.
pub(super) async fn start_latency(
    engine: &Engine,
    marks: &Marks,
    workflow: &str,
    samples: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let asked = Instant::now();
        let (run, _) = engine.start_run(start_request(workflow, i)).await?;
        latencies.push(millis(marks.called_for(run.id.uuid()).await? - asked));
        super::wait_for_run(engine.pool(), run.id.uuid(), RunStatus::Succeeded).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(percentiles(latencies))
}

/// (e): one run at a time of `workflow` (an approval `gate`, then `bench.mark`): the
/// approval is decided once the run waits at the gate.
pub(super) async fn decision_latency(
    engine: &Engine,
    marks: &Marks,
    workflow: &str,
    samples: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let approver = Caller {
        key_id: Uuid::nil().into(),
        key_name: "bench-approver".to_owned(),
        person_id: Uuid::nil().into(),
        person: "bench-approver".to_owned(),
        role: Role::ComplianceOfficer,
        workspace_id: None,
    };
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let (run, _) = engine.start_run(start_request(workflow, i)).await?;
        super::wait_for_run(engine.pool(), run.id.uuid(), RunStatus::Waiting).await?;
        let asked = Instant::now();
        engine
            .decide(run.id, "gate", &approver, Decision::Approve, "bench")
            .await?;
        latencies.push(millis(marks.called_for(run.id.uuid()).await? - asked));
        super::wait_for_run(engine.pool(), run.id.uuid(), RunStatus::Succeeded).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(percentiles(latencies))
}

pub(super) fn start_request(workflow: &str, i: usize) -> StartRun {
    StartRun {
        workflow: workflow.to_owned(),
        input: json!({ "n": i }),
        workspace_id: None,
        idempotency_key: None,
        initiator: "bench".to_owned(),
    }
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// The 50th and 99th percentiles.
pub(super) fn percentiles(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}
