//! Events for runs: stored, and taken by a `wait_event` step waiting for that name and
//! correlation, either in a transaction of their own or inside the caller's.

use serde_json::{Value, json};

use super::runs::{Actor, lock_unfinished};
use crate::engine::StepStatus;
use crate::engine::definitions::definition::{Definition, StepKind, outcome};
use crate::engine::execution::eager::Writer;
use crate::engine::execution::transition::Transition;
use crate::engine::handlers::context::{correlation_text, lookup};
use crate::engine::{Engine, EngineError, RunId};
use crate::store;
use crate::store::runs::RunRow;

/// What posting an event did.
#[derive(Debug, Clone)]
pub struct EventReceipt {
    /// Stored event id.
    pub event_id: i64,
    /// Whether a waiting step took it.
    pub matched: bool,
    /// The run after the event.
    pub run: RunRow,
}

impl Engine {
    /// Stores an event for a run; a `wait_event` step waiting for this name and
    /// correlation takes it at once, otherwise it waits for a later step.
    #[tracing::instrument(name = "post_event", skip_all, fields(run.id = %id, event.name = name))]
    pub async fn post_event(
        &self,
        id: RunId,
        name: &str,
        correlation: &str,
        payload: &Value,
        actor: Actor<'_>,
    ) -> Result<EventReceipt, EngineError> {
        let mut tx = self.pool.begin().await?;
        let run = lock_unfinished(&mut tx, id, actor, "").await?;
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        let event = Event {
            name,
            correlation,
            payload,
        };
        let (transition, event_id, matched) =
            receive_event(&mut tx, &definition, run, &event, actor).await?;
        let run = self
            .commit_handing_off(Writer::Transaction(tx), transition)
            .await?;
        Ok(EventReceipt {
            event_id,
            matched,
            run,
        })
    }

    /// Like [`Engine::post_event`], inside the caller's transaction: the caller's own
    /// change and the event commit together or not at all (the webhook processor marks a
    /// delivery processed and resumes the run it concerns in one transaction). Steps the
    /// event makes due are queued, not run inline.
    pub async fn post_event_within(
        &self,
        tx: &mut sqlx::PgConnection,
        id: RunId,
        event: &Event<'_>,
        actor: Actor<'_>,
    ) -> Result<EventReceipt, EngineError> {
        let run = lock_unfinished(tx, id, actor, "").await?;
        let definition = self
            .catalog
            .pinned(tx, &run.workflow, run.workflow_version)
            .await?;
        let (transition, event_id, matched) =
            receive_event(tx, &definition, run, event, actor).await?;
        let run = transition.commit_changes(tx).await?;
        Ok(EventReceipt {
            event_id,
            matched,
            run,
        })
    }
}

/// An event for a run.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Its name, as a `wait_event` step names it.
    pub name: &'a str,
    /// The correlation value a waiting step matches.
    pub correlation: &'a str,
    /// What the step's output becomes.
    pub payload: &'a Value,
}

/// Stores the event for the locked `run` and, when its current step waits for it, moves
/// the run on; answers the transition to write, the event's id and whether it matched.
async fn receive_event<'d>(
    tx: &mut sqlx::PgConnection,
    definition: &'d Definition,
    run: RunRow,
    event: &Event<'_>,
    actor: Actor<'_>,
) -> Result<(Transition<'d>, i64, bool), EngineError> {
    let Event {
        name,
        correlation,
        payload,
    } = *event;
    let id = run.id;
    let event_id = store::events::insert(tx, id, name, correlation, payload).await?;
    let waiting_step = run
        .current_step
        .as_deref()
        .and_then(|step_id| definition.step(step_id))
        .filter(|step| match &step.kind {
            StepKind::WaitEvent(spec) => {
                spec.event == name
                    && spec.correlation.as_deref().is_none_or(|path| {
                        lookup(&run.context, path).map(correlation_text).as_deref()
                            == Some(correlation)
                    })
            }
            _ => false,
        });
    let row = store::steps::get(tx, id, run.current_seq).await?;
    let mut transition = Transition::new(definition, run, Some(actor.name().to_owned()));
    transition.record(
        "event_received",
        transition.run.current_step.clone().as_deref(),
        json!({ "event_id": event_id, "name": name, "correlation": correlation }),
    );
    let mut matched = false;
    if let (Some(step), Some(mut row)) = (
        waiting_step,
        row.filter(|r| r.status == StepStatus::Waiting),
    ) {
        matched = store::events::consume_matching(tx, id, name, Some(correlation), row.seq)
            .await?
            .is_some();
        if matched {
            transition.complete_row(&mut row, outcome::RECEIVED, payload);
            store::steps::save(tx, &row).await?;
            transition
                .follow(tx, step.target_for(outcome::RECEIVED), None)
                .await?;
        }
    }
    Ok((transition, event_id, matched))
}
