//! Marks legal holds past their expiry as `expired`, with an audit entry each, and wakes
//! the runs waiting for holds no longer in force ([`super::hold_waits`]). The hold check
//! never waits for this: a hold past its `expires_at` holds nothing at once; this loop
//! makes its status and the ledger say so. It runs every [`EVERY`], and at once when a
//! release or expiry is announced. Replicas may run it together: each hold expires once
//! (the update locks it and rechecks its status), each wait is taken by one replica.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::store::hold_waits::CHANNEL;
use crate::engine::Engine;

/// How often expiries are recorded and waits checked without an announcement.
const EVERY: Duration = Duration::from_secs(30);

async fn listen(engine: &Engine) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(engine.pool()).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}

/// Records expiries and wakes waits until `shutdown` resolves.
pub async fn run(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut listener = listen(&engine).await;
    loop {
        match super::holds::expire_due(engine.pool()).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "legal holds expired"),
            Err(error) => {
                tracing::warn!(error = %error, "recording expired legal holds failed; will retry")
            }
        }
        match super::hold_waits::wake_cleared(&engine).await {
            Ok(0) => {}
            Ok(woken) => tracing::info!(woken, "runs waiting for legal holds woken"),
            Err(error) => {
                tracing::warn!(error = %error, "waking runs waiting for legal holds failed; will retry")
            }
        }
        let announced = async {
            match listener.as_mut() {
                Some(listener) => {
                    if listener.recv().await.is_err() {
                        tokio::time::sleep(EVERY).await;
                    }
                }
                None => tokio::time::sleep(EVERY).await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(EVERY) => {}
            _ = announced => {}
        }
        if listener.is_none() {
            listener = listen(&engine).await;
        }
    }
}
