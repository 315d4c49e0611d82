//! What customers write back: a message that says only a stop word (`STOP`, …) records
//! their opt-out; a tap on a reminder's quick-reply button (`confirm` or `cancel`, or a
//! payload ending in `:confirm` / `:cancel`) confirms or cancels the appointment that
//! reminder was for (found by the message it answers, `context.id`). Read from the
//! inbound messages the WhatsApp domain stores, each once, by a loop in every worker
//! process (rows are taken `for update skip locked`, so replicas share them).

use std::future::Future;
use std::time::Duration;

use super::ACTOR;
use super::appointments::cancel_by_customer;
use super::customers::opt_out_by_keyword;
use super::store::{appointments as store, replies};
use crate::engine::Engine;

/// How often it looks.
const EVERY: Duration = Duration::from_millis(500);

/// Messages read per transaction.
const BATCH: i64 = 200;

/// What a button payload asks for.
fn button_action(payload: &str) -> Option<&'static str> {
    let payload = payload.trim().to_ascii_lowercase();
    let tail = payload.rsplit(':').next().unwrap_or_default();
    match tail {
        "confirm" => Some("confirm"),
        "cancel" => Some("cancel"),
        _ => None,
    }
}

/// Reads the unread inbound messages once; answers how many.
pub async fn read_replies(engine: &Engine) -> Result<usize, crate::reminders::ReminderError> {
    let mut tx = engine.pool().begin().await?;
    let rows = replies::unread(&mut tx, BATCH).await?;
    for reply in &rows {
        let (workspace, from, payload) = match &reply.workspace_id {
            Some(workspace) => (workspace, &reply.from_number, &reply.payload),
            None => {
                replies::mark_read(&mut tx, &reply.message_id).await?;
                continue;
            }
        };
        match reply.message_type.as_str() {
            "text" => {
                let text = payload["text"]["body"].as_str().unwrap_or_default();
                if opt_out_by_keyword(&mut tx, workspace, from, text, reply.received_at).await? {
                    tracing::info!(
                        workspace.id = workspace,
                        "a customer opted out by a stop word"
                    );
                }
            }
            "button" => {
                let action = payload["button"]["payload"]
                    .as_str()
                    .and_then(button_action);
                let answered = payload["context"]["id"].as_str();
                if let (Some(action), Some(answered)) = (action, answered)
                    && let Some(appointment) = store::by_message(&mut tx, answered).await?
                {
                    match action {
                        "confirm" => store::confirm(&mut tx, appointment).await?,
                        _ => cancel_by_customer(engine, &mut tx, appointment).await?,
                    }
                }
            }
            _ => {}
        }
        replies::mark_read(&mut tx, &reply.message_id).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// Reads replies every [`EVERY`] until `shutdown` resolves.
pub async fn run(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        if let Err(error) = read_replies(&engine).await {
            tracing::warn!(error = %error, actor = ACTOR, "reading customers' replies failed; will retry");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::button_action;

    #[test]
    fn button_payloads_name_their_action_at_the_end() {
        assert_eq!(button_action("confirm"), Some("confirm"));
        assert_eq!(button_action("appt:42:CANCEL"), Some("cancel"));
        assert_eq!(button_action("reschedule"), None);
    }
}
