//! Meta's webhooks: storing a signed delivery, and processing stored deliveries —
//! message statuses (monotone), inbound messages, template status changes (which resume
//! the template-approval run waiting on them) and account disconnections.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tracing::Instrument;

use super::store;
use crate::engine::RunId;
use crate::engine::commands::{Actor, Event};
use crate::engine::handlers::context::replace_nul;
use crate::engine::{Engine, EngineError};
use crate::meta::signature::signature_valid;
use crate::metrics::{Counter, METRICS};

/// The event a template-approval run waits for, correlated by Meta's template id.
pub const TEMPLATE_STATUS_EVENT: &str = "template_status";

/// Why a delivery was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The signature is missing or is not over these bytes: nothing is stored.
    #[error("X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of this body")]
    BadSignature,
    /// The database failed: not acknowledged, so Meta delivers it again.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Takes a delivery signed over exactly these bytes: stores it for the processor
/// (deduplicated by its SHA-256; `false` when it was already stored).
pub async fn take_delivery(
    pool: &PgPool,
    app_secret: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<bool, DeliveryError> {
    let received =
        |outcome: &str| METRICS.count(Counter::WebhooksReceived, &[("outcome", outcome)]);
    if !signature_valid(app_secret, body, signature) {
        received("bad_signature");
        return Err(DeliveryError::BadSignature);
    }
    let digest = Sha256::digest(body);
    let stored = async {
        let mut conn = pool.acquire().await?;
        store::webhooks::insert(&mut conn, body, &digest).await
    }
    .await;
    received(match &stored {
        Ok(true) => "stored",
        Ok(false) => "duplicate",
        Err(_) => "error",
    });
    Ok(stored?)
}

/// Deliveries processed per transaction.
const BATCH: i64 = 100;

/// A template change to hand to its run, in the transaction that marks its delivery
/// processed.
struct TemplateChange {
    run_id: uuid::Uuid,
    template_id: String,
    payload: Value,
}

/// Processes stored deliveries until none is left; returns how many.
#[tracing::instrument(name = "process_webhooks", skip_all)]
pub async fn process_pending(engine: &Engine) -> Result<usize, EngineError> {
    let mut total = 0;
    loop {
        let mut tx = engine.pool().begin().await?;
        let deliveries = store::webhooks::lock_unprocessed(&mut tx, BATCH).await?;
        if deliveries.is_empty() {
            tx.commit().await?;
            return Ok(total);
        }
        let mut changes = Vec::new();
        for delivery in &deliveries {
            let span = tracing::info_span!("webhook", webhook.id = delivery.id);
            let mut subjects = Subjects::default();
            let error = match serde_json::from_slice::<Value>(&delivery.body) {
                Ok(mut payload) => {
                    // A NUL (say, in a customer's text) cannot be stored and would fail
                    // this delivery, and every one queued behind it, forever; the raw
                    // body stays as it came.
                    replace_nul(&mut payload);
                    apply(&mut tx, &payload, &mut changes, &mut subjects)
                        .instrument(span)
                        .await?
                }
                Err(error) => Some(format!("not JSON: {error}")),
            };
            if let Some(error) = &error {
                tracing::warn!(webhook.id = delivery.id, %error, "a webhook delivery could not be applied; kept with its error");
            }
            store::webhooks::mark_processed(
                &mut tx,
                delivery.id,
                error.as_deref(),
                subjects.workspace.as_deref(),
                &subjects.customers,
            )
            .await?;
            let outcome = if error.is_some() { "error" } else { "ok" };
            METRICS.count(Counter::WebhooksProcessed, &[("outcome", outcome)]);
        }
        // The deliveries' effects and the events they post commit together: a crash
        // leaves both undone (the deliveries are processed again), never one of them.
        for change in changes {
            let event = Event {
                name: TEMPLATE_STATUS_EVENT,
                correlation: &change.template_id,
                payload: &change.payload,
            };
            // A finished run keeps the event for nobody: fine. (Nothing is written
            // before that refusal, so the transaction goes on.)
            match engine
                .post_event_within(
                    &mut tx,
                    RunId::from(change.run_id),
                    &event,
                    Actor::Service("meta"),
                )
                .await
            {
                Ok(_) | Err(EngineError::Conflict(_) | EngineError::RunNotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        tx.commit().await?;
        total += deliveries.len();
    }
}

/// Whom a delivery is about, recorded on it for the hold check and erasure: the
/// workspace it came for and the customers it names.
#[derive(Debug, Default)]
struct Subjects {
    workspace: Option<String>,
    customers: Vec<String>,
}

impl Subjects {
    fn customer(&mut self, wa_id: Option<&str>) {
        if let Some(wa_id) = wa_id
            && !self.customers.iter().any(|known| known == wa_id)
        {
            self.customers.push(wa_id.to_owned());
        }
    }
}

/// Applies one delivery; returns a description of what could not be used, if anything.
async fn apply(
    conn: &mut sqlx::PgConnection,
    payload: &Value,
    changes: &mut Vec<TemplateChange>,
    subjects: &mut Subjects,
) -> Result<Option<String>, EngineError> {
    let mut unusable = Vec::new();
    for entry in payload["entry"].as_array().into_iter().flatten() {
        let waba = entry["id"].as_str();
        for change in entry["changes"].as_array().into_iter().flatten() {
            let value = &change["value"];
            match change["field"].as_str().unwrap_or_default() {
                "messages" => {
                    let phone = value["metadata"]["phone_number_id"].as_str();
                    let workspace = store::webhooks::workspace_of(conn, phone, waba).await?;
                    if subjects.workspace.is_none() {
                        subjects.workspace.clone_from(&workspace);
                    }
                    for contact in value["contacts"].as_array().into_iter().flatten() {
                        subjects.customer(contact["wa_id"].as_str());
                    }
                    for status in value["statuses"].as_array().into_iter().flatten() {
                        subjects.customer(status["recipient_id"].as_str());
                        let (Some(id), Some(state)) =
                            (status["id"].as_str(), status["status"].as_str())
                        else {
                            unusable.push("a status without id or status".to_owned());
                            continue;
                        };
                        if !["sent", "delivered", "read", "failed"].contains(&state) {
                            continue;
                        }
                        let code = status["errors"][0]["code"].as_i64();
                        store::webhooks::advance_status(
                            conn,
                            id,
                            workspace.as_deref(),
                            status["recipient_id"].as_str(),
                            state,
                            code,
                        )
                        .await?;
                    }
                    for message in value["messages"].as_array().into_iter().flatten() {
                        subjects.customer(message["from"].as_str());
                        let (Some(id), Some(from)) =
                            (message["id"].as_str(), message["from"].as_str())
                        else {
                            unusable.push("a message without id or sender".to_owned());
                            continue;
                        };
                        let kind = message["type"].as_str().unwrap_or("unknown");
                        store::webhooks::insert_inbound(
                            conn,
                            id,
                            workspace.as_deref(),
                            from,
                            kind,
                            message,
                        )
                        .await?;
                    }
                }
                "message_template_status_update" => {
                    let Some(template_id) = template_id(value) else {
                        unusable.push("a template update without message_template_id".to_owned());
                        continue;
                    };
                    let event = value["event"].as_str().unwrap_or_default();
                    let reason = value["reason"].as_str().filter(|r| *r != "NONE");
                    if let Some(run_id) =
                        store::webhooks::set_template_status(conn, &template_id, event, reason)
                            .await?
                    {
                        changes.push(TemplateChange {
                            run_id,
                            template_id,
                            payload: json!({ "status": event, "reason": reason, "source": "webhook" }),
                        });
                    }
                }
                "account_update" => {
                    let event = value["event"].as_str().unwrap_or_default();
                    if matches!(
                        event,
                        "PARTNER_APP_UNINSTALLED" | "PARTNER_REMOVED" | "DISABLED_UPDATE"
                    ) && let Some(workspace) =
                        store::webhooks::workspace_of(conn, None, waba).await?
                    {
                        if subjects.workspace.is_none() {
                            subjects.workspace = Some(workspace.clone());
                        }
                        let reason = format!(
                            "Meta reported {event} for WABA {}",
                            waba.unwrap_or_default()
                        );
                        store::workspaces::set_status(
                            conn,
                            &workspace,
                            "disconnected",
                            Some(&reason),
                        )
                        .await?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok((!unusable.is_empty()).then(|| unusable.join("; ")))
}

/// Meta sends the template id as a number in webhooks and as a string in the API.
fn template_id(value: &Value) -> Option<String> {
    match &value["message_template_id"] {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// How often worker processes look for unprocessed deliveries.
const PROCESS_EVERY: Duration = Duration::from_millis(250);

/// Processes deliveries until `shutdown` resolves.
pub async fn run_processor(engine: Engine, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(PROCESS_EVERY) => {}
        }
        if let Err(error) = process_pending(&engine).await {
            tracing::warn!(error = %error, "processing webhook deliveries failed; will retry");
        }
    }
}
