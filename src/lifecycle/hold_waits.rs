//! Runs waiting for legal holds: a run whose work a hold blocks (a deletion request that
//! found held records) registers the holds with [`wait_for`] and parks on a `wait_event`
//! step; when the last of them is released or expires, [`wake_cleared`] posts the
//! run's event, in the same transaction that removes the wait. The release and expiry
//! announce themselves (`NOTIFY`), so the hold-expiry loop wakes runs at once; its periodic
//! pass catches anything a lost notification missed.

use serde_json::json;
use uuid::Uuid;

use super::store;
pub use super::store::hold_waits::WaitRow;
use crate::engine::commands::events::Event;
use crate::engine::commands::runs::Actor;
use crate::engine::{Engine, EngineError, RunId};

/// Makes run `run_id` wait until none of `hold_ids` is in force; then it is posted
/// `event` with `correlation`. Call it in the transaction that records the wait's cause.
pub async fn wait_for(
    conn: &mut sqlx::PgConnection,
    run_id: Uuid,
    event: &str,
    correlation: &str,
    hold_ids: &[Uuid],
) -> sqlx::Result<()> {
    store::hold_waits::register(
        conn,
        &WaitRow {
            run_id,
            event: event.to_owned(),
            correlation: correlation.to_owned(),
            hold_ids: hold_ids.to_vec(),
        },
    )
    .await
}

/// Posts their event to the runs none of whose holds is in force any more; returns how
/// many were woken. A run that has finished meanwhile just loses its wait.
pub async fn wake_cleared(engine: &Engine) -> Result<usize, EngineError> {
    let mut tx = engine.pool().begin().await?;
    let waits = store::hold_waits::cleared(&mut tx).await?;
    let mut woken = 0;
    for wait in &waits {
        let payload = json!({ "cleared_hold_ids": wait.hold_ids });
        let event = Event {
            name: &wait.event,
            correlation: &wait.correlation,
            payload: &payload,
        };
        match engine
            .post_event_within(
                &mut tx,
                RunId::from(wait.run_id),
                &event,
                Actor::Service(super::ACTOR),
            )
            .await
        {
            Ok(_) => woken += 1,
            Err(EngineError::RunNotFound(_) | EngineError::Conflict(_)) => {}
            Err(error) => return Err(error),
        }
        store::hold_waits::remove(&mut tx, wait.run_id).await?;
    }
    tx.commit().await?;
    Ok(woken)
}
