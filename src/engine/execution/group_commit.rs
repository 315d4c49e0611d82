//! Group commit: requests of one kind from many concurrent step executions, written to
//! PostgreSQL by one transaction per batch.
//!
//! Per step, the engine's cost is statements and commits, not rows (docs/BENCHMARKS.md).
//! A [`GroupCommit`] queues requests; a few writer tasks each take everything queued so
//! far (up to a maximum), write it as one batch and hand every caller its own answer.
//! Nothing waits for a batch to fill: an idle engine writes a batch of one at once, a busy
//! one writes whatever piled up while the previous batch was being written.
//!
//! A batch never holds two requests for the same run: later ones wait for a following
//! round, so a batch can lock its runs once, in id order. When a batch fails as a whole
//! (one bad request, a deadlock), each of its requests is written again on its own, so
//! one request's error never becomes another's.

use crate::store::ids::RunId;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::engine::EngineError;

/// A request that belongs to one run.
pub trait RunRequest: Send + 'static {
    /// The run the request changes.
    fn run_id(&self) -> RunId;
}

/// Writes one batch, all of it or (on `Err`) none of it — one statement or one transaction —
/// and answers in the order of the requests.
pub type BatchWriter<Req, Resp> = Arc<
    dyn Fn(Vec<Arc<Req>>) -> Pin<Box<dyn Future<Output = Result<Vec<Resp>, EngineError>> + Send>>
        + Send
        + Sync,
>;

type Queued<Req, Resp> = (Arc<Req>, oneshot::Sender<Result<Resp, EngineError>>);
type Batch<Req, Resp> = Vec<Queued<Req, Resp>>;

/// A queue of requests written in batches by a fixed number of writer tasks.
pub struct GroupCommit<Req, Resp> {
    queue: mpsc::UnboundedSender<Queued<Req, Resp>>,
}

impl<Req, Resp> Clone for GroupCommit<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<Req, Resp> GroupCommit<Req, Resp>
where
    Req: RunRequest + Sync,
    Resp: Send + 'static,
{
    /// Starts `writers` writer tasks that write at most `max_batch` requests at a time.
    /// They stop once every handle to the queue is dropped and the queue is empty.
    pub fn spawn(writers: usize, max_batch: usize, write: BatchWriter<Req, Resp>) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            let receiver = Arc::clone(&receiver);
            let write = Arc::clone(&write);
            tokio::spawn(async move {
                while let Some(batch) = take_batch(&receiver, max_batch.max(1)).await {
                    write_batch(&write, batch).await;
                }
            });
        }
        Self { queue }
    }

    /// Queues a request and waits for its answer.
    pub async fn submit(&self, request: Req) -> Result<Resp, EngineError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((Arc::new(request), answer))
            .map_err(|_| EngineError::Stopped)?;
        answered.await.map_err(|_| EngineError::Stopped)?
    }
}

/// Waits for one request, then takes whatever else is queued, up to `max_batch`.
async fn take_batch<Req, Resp>(
    receiver: &Mutex<mpsc::UnboundedReceiver<Queued<Req, Resp>>>,
    max_batch: usize,
) -> Option<Vec<Queued<Req, Resp>>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max_batch {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Writes a batch in rounds of distinct runs; a failed round is written again one request
/// at a time.
async fn write_batch<Req, Resp>(write: &BatchWriter<Req, Resp>, batch: Vec<Queued<Req, Resp>>)
where
    Req: RunRequest,
{
    let mut pending = batch;
    while !pending.is_empty() {
        let (round, later) = distinct_runs(pending);
        pending = later;
        let requests = round
            .iter()
            .map(|(request, _)| Arc::clone(request))
            .collect();
        match write(requests).await {
            Ok(answers) if answers.len() == round.len() => {
                for ((_, answer), result) in round.into_iter().zip(answers) {
                    let _ = answer.send(Ok(result));
                }
            }
            Ok(_) => {
                // The batch is written but its answers cannot be matched to requests; never
                // write it again.
                for (_, answer) in round {
                    let _ = answer.send(Err(EngineError::Definition(
                        "a batch writer answered the wrong number of requests".to_owned(),
                    )));
                }
            }
            Err(error) if round.len() == 1 => {
                let (_, answer) = round.into_iter().next().expect("one request");
                let _ = answer.send(Err(error));
            }
            Err(_) => {
                // Nothing of the batch was written: write each request on its own.
                for (request, answer) in round {
                    let result = write(vec![request]).await.and_then(|mut answers| {
                        answers.pop().ok_or_else(|| {
                            EngineError::Definition("a batch writer answered nothing".to_owned())
                        })
                    });
                    let _ = answer.send(result);
                }
            }
        }
    }
}

/// Splits off the first request of every run; the rest wait for a later round.
fn distinct_runs<Req: RunRequest, Resp>(
    batch: Batch<Req, Resp>,
) -> (Batch<Req, Resp>, Batch<Req, Resp>) {
    let mut seen = HashSet::new();
    batch
        .into_iter()
        .partition(|(request, _)| seen.insert(request.run_id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bump(RunId, i32);

    impl RunRequest for Bump {
        fn run_id(&self) -> RunId {
            self.0
        }
    }

    fn doubling_writer(batches: Arc<std::sync::Mutex<Vec<usize>>>) -> BatchWriter<Bump, i32> {
        Arc::new(move |requests: Vec<Arc<Bump>>| {
            let batches = Arc::clone(&batches);
            Box::pin(async move {
                batches.lock().unwrap().push(requests.len());
                let ids: HashSet<RunId> = requests.iter().map(|r| r.0).collect();
                assert_eq!(ids.len(), requests.len(), "a batch repeats a run");
                if requests.iter().any(|r| r.1 < 0) {
                    return Err(EngineError::Conflict("negative".to_owned()));
                }
                Ok(requests.iter().map(|r| r.1 * 2).collect())
            })
        })
    }

    #[tokio::test]
    async fn every_caller_gets_its_own_answer_and_errors_stay_with_their_request() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let group = GroupCommit::spawn(1, 64, doubling_writer(Arc::clone(&batches)));
        let shared_run = RunId::new();
        let calls = (0..200).map(|i| {
            let group = group.clone();
            // Every tenth request shares one run; -5 fails on its own.
            let run = if i % 10 == 0 {
                shared_run
            } else {
                RunId::new()
            };
            let value = if i == 37 { -5 } else { i };
            async move { (value, group.submit(Bump(run, value)).await) }
        });
        let results = futures::future::join_all(calls).await;
        for (value, result) in results {
            match result {
                Ok(doubled) => assert_eq!(doubled, value * 2),
                Err(EngineError::Conflict(_)) => assert_eq!(value, -5),
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        let batches = batches.lock().unwrap();
        assert!(
            batches.iter().any(|&size| size > 1),
            "requests queued together were written together: {batches:?}"
        );
    }
}
