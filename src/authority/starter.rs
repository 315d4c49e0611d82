//! The authority domain's housekeeping: starts the runs of requests stored without one
//! (the process stopped between storing and starting; the start is idempotent), and
//! removes the files of packages whose download window closed or whose request closed
//! without a disclosure (the manifests stay).

use std::future::Future;
use std::time::Duration;

use super::store::disclosures;
use crate::engine::Engine;

/// How often it looks.
const EVERY: Duration = Duration::from_secs(30);

/// How old a request without a run must be (a filing in progress starts its own run).
const GRACE_SECONDS: f64 = 60.0;

/// Runs every [`EVERY`] until `shutdown` resolves.
pub async fn run(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        match super::requests::start_missing_runs(&engine, GRACE_SECONDS).await {
            Ok(0) => {}
            Ok(started) => tracing::info!(started, "authority request runs started late"),
            Err(error) => {
                tracing::warn!(error = %error, "starting authority request runs failed; will retry")
            }
        }
        let dropped = match engine.pool().acquire().await {
            Ok(mut conn) => disclosures::drop_spent(&mut conn).await,
            Err(error) => Err(error),
        };
        match dropped {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "authority package files removed"),
            Err(error) => {
                tracing::warn!(error = %error, "removing authority package files failed; will retry")
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
