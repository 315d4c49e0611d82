//! Keeps an onboarding's Embedded Signup code and PIN no longer than the onboarding needs
//! them. The steps delete them on the way (the code once exchanged, both once the
//! workspace is active) and closing a workspace deletes its own; this loop deletes those of
//! onboardings that ended any other way (failed, cancelled), which reach no such step.

use std::time::Duration;

use crate::engine::Engine;

use super::store;

/// How often finished onboardings are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Deletes the secrets of every finished onboarding; answers how many rows went.
pub async fn sweep(engine: &Engine) -> Result<u64, sqlx::Error> {
    let mut conn = engine.pool().acquire().await?;
    store::workspaces::delete_finished_onboarding_secrets(&mut conn).await
}

/// Sweeps until `shutdown`.
pub async fn run_sweeper(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        match sweep(&engine).await {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(deleted, "deleted the code and PIN of finished onboardings")
            }
            Err(error) => {
                tracing::warn!(error = %error, "sweeping onboarding secrets failed; will retry")
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}
