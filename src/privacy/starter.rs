//! The privacy domain's housekeeping: starts the runs of requests stored without one (the
//! process stopped between storing a request, which the caller was not yet told of, and
//! starting its run; the start is idempotent, so replicas may race), and deletes the
//! files of access packages whose link expired or was used up.

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
        match super::packages::drop_spent(engine.pool()).await {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "spent access packages deleted"),
            Err(error) => {
                tracing::warn!(error = %error, "deleting spent access packages failed; will retry")
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
