//! Starts the runs of requests stored without one: the process stopped between storing a
//! request (which the caller was not yet told of) and starting its run. A request is
//! never left without its run; the start is idempotent, so replicas may race.

use std::future::Future;
use std::time::Duration;

use crate::engine::Engine;

/// How often requests without a run are looked for.
const EVERY: Duration = Duration::from_secs(30);

/// How old a request without a run must be (a filing in progress starts its own run).
const GRACE_SECONDS: f64 = 60.0;

/// Starts missing runs every [`EVERY`] until `shutdown` resolves.
pub async fn run(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        match super::requests::start_missing_runs(&engine, GRACE_SECONDS).await {
            Ok(0) => {}
            Ok(started) => tracing::info!(started, "privacy request runs started late"),
            Err(error) => {
                tracing::warn!(error = %error, "starting privacy request runs failed; will retry")
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
