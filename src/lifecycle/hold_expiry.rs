//! Marks legal holds past their expiry as `expired`, with an audit entry each. The hold
//! check never waits for this: a hold past its `expires_at` holds nothing at once; this
//! loop makes its status and the ledger say so. Replicas may run it together: each hold
//! expires once (the update locks it and rechecks its status).

use std::future::Future;
use std::time::Duration;

use crate::engine::Engine;

/// How often expiries are recorded.
const EVERY: Duration = Duration::from_secs(30);

/// Records expiries every [`EVERY`] until `shutdown` resolves.
pub async fn run(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        match super::holds::expire_due(engine.pool()).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "legal holds expired"),
            Err(error) => {
                tracing::warn!(error = %error, "recording expired legal holds failed; will retry")
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
