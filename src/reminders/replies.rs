//! What customers write back: a message that says only a stop word (`STOP`, …) records
//! their opt-out; a tap on a reminder's quick-reply button (`confirm` or `cancel`, or a
//! payload ending in `:confirm` / `:cancel`) confirms or cancels the appointment that
//! reminder was for (found by the message it answers, `context.id`). Read from the
//! inbound messages the WhatsApp domain stores, each once, by a loop in every worker
//! process (rows are taken `for update skip locked`, so replicas share them).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ACTOR;
use super::appointments::cancel_by_customer;
use super::customers::opt_out_by_keyword;
use super::store::appointments as store;
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
    let rows: Vec<(String, Option<String>, String, String, Value, DateTime<Utc>)> = sqlx::query_as(
        "select message_id, workspace_id, from_number, message_type, payload, received_at
         from inbound_messages where not reminders_seen
         order by received_at limit $1 for update skip locked",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (id, workspace, from, kind, payload, at) in &rows {
        let Some(workspace) = workspace else { continue };
        match kind.as_str() {
            "text" => {
                let text = payload["text"]["body"].as_str().unwrap_or_default();
                if opt_out_by_keyword(&mut tx, workspace, from, text, *at).await? {
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
        sqlx::query("update inbound_messages set reminders_seen = true where message_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
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
