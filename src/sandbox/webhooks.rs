//! The sandbox's webhook deliveries, the way Meta makes them: JSON with every non-ASCII
//! character escaped, signed with `X-Hub-Signature-256` over exactly those bytes, retried
//! when not acknowledged. A fault armed for `webhook.template_status` drops a delivery.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::state::{Business, Sandbox, Template};
use crate::meta::signature::sign;

/// How often due template reviews are announced.
const TICK: Duration = Duration::from_millis(100);
/// Attempts per delivery (Meta keeps trying for days; the sandbox for a few seconds).
const ATTEMPTS: u32 = 5;

/// JSON with every non-ASCII character as `\uXXXX` (UTF-16), as Meta sends it.
pub fn ascii_json(value: &Value) -> String {
    let mut out = String::new();
    for ch in value.to_string().chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The `message_template_status_update` delivery for a decided template.
pub fn template_status_payload(template: &Template) -> Value {
    let mut value = json!({
        "event": template.status,
        "message_template_id": template.id.parse::<u64>().unwrap_or_default(),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "message_template_category": template.category,
        "reason": if template.status == "REJECTED" { "INVALID_FORMAT" } else { "NONE" },
    });
    if template.status == "PAUSED" {
        value["other_info"] =
            json!({ "title": "FIRST_PAUSE", "description": "Quality is low: paused for 3 hours." });
    }
    if template.status == "REJECTED" {
        value["rejection_info"] = json!({
            "reason": "The template's format is not valid.",
            "recommendation": "Check the placeholders and their examples.",
        });
    }
    json!({ "object": "whatsapp_business_account", "entry": [{
        "id": template.waba_id, "time": chrono::Utc::now().timestamp(),
        "changes": [{ "field": "message_template_status_update", "value": value }],
    }]})
}

/// Signs and posts one delivery, retrying while it is not acknowledged.
pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    app_secret: &str,
    payload: &Value,
) -> bool {
    let body = ascii_json(payload);
    let signature = sign(app_secret, body.as_bytes());
    for attempt in 0..ATTEMPTS {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .body(body.clone())
            .send()
            .await;
        if sent.is_ok_and(|response| response.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
    false
}

/// A `messages` delivery carrying status updates for one message.
fn statuses_payload(
    business: &Business,
    wamid: &str,
    to: &str,
    callback: Option<&str>,
    states: &[&str],
) -> Value {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let statuses: Vec<Value> = states
        .iter()
        .map(|state| {
            let mut status =
                json!({ "id": wamid, "status": state, "timestamp": timestamp, "recipient_id": to });
            if let Some(data) = callback {
                status["biz_opaque_callback_data"] = json!(data);
            }
            status
        })
        .collect();
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": business.waba_id, "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": business.display_phone_number, "phone_number_id": business.phone_number_id },
        "statuses": statuses,
    }}]}]})
}

/// Queues only the `sent` status of a message held for an offline phone.
pub fn queue_sent_only(
    sandbox: &Sandbox,
    business: &Business,
    wamid: &str,
    to: &str,
    callback: Option<&str>,
) {
    let sent = statuses_payload(business, wamid, to, callback, &["sent"]);
    sandbox.queue_delivery(Duration::from_millis(50), sent);
}

/// Queues the `delivered` and `read` statuses of a held message its phone got late.
pub fn queue_late_delivery(sandbox: &Sandbox, held: &super::reach::Held) {
    let payload = statuses_payload(
        &held.business,
        &held.wamid,
        &held.to,
        held.callback.as_deref(),
        &["delivered", "read"],
    );
    sandbox.queue_delivery(Duration::from_millis(50), payload);
}

/// Queues the status webhooks of an accepted message, shaped by any armed status fault.
pub fn queue_statuses(
    sandbox: &Sandbox,
    business: &Business,
    wamid: &str,
    to: &str,
    callback: Option<&str>,
) {
    let skip_delivered = sandbox
        .take_fault("webhook.status.skip_delivered")
        .is_some();
    let duplicate = sandbox.take_fault("webhook.status.duplicate").is_some();
    let reorder = sandbox.take_fault("webhook.status.reorder").is_some();
    let first: &[&str] = if skip_delivered {
        &["sent"]
    } else {
        &["sent", "delivered"]
    };
    let first = statuses_payload(business, wamid, to, callback, first);
    let read = statuses_payload(business, wamid, to, callback, &["read"]);
    let (early, late) = if reorder {
        (read, first)
    } else {
        (first, read)
    };
    sandbox.queue_delivery(Duration::from_millis(50), early.clone());
    sandbox.queue_delivery(Duration::from_millis(150), late);
    if duplicate {
        sandbox.queue_delivery(Duration::from_millis(250), early);
    }
}

/// Meta's handshake before it delivers anything: `GET` with `hub.mode=subscribe`, the
/// verify token and a challenge the callback must echo.
async fn verified(client: &reqwest::Client, url: &str, verify_token: &str) -> bool {
    let challenge = rand::random::<u32>().to_string();
    let answer = client
        .get(url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", verify_token),
            ("hub.challenge", challenge.as_str()),
        ])
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => response
            .text()
            .await
            .is_ok_and(|text| text.trim() == challenge),
        _ => false,
    }
}

/// Delivers queued webhooks and announces template status changes until `shutdown`
/// resolves, once the callback has passed the verification handshake.
pub async fn run_announcer(sandbox: Arc<Sandbox>, shutdown: impl Future<Output = ()>) {
    let client = reqwest::Client::new();
    let mut callback_verified = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let Some(url) = sandbox.settings.callback_url.clone() else {
            continue;
        };
        if !callback_verified {
            callback_verified = verified(&client, &url, &sandbox.settings.verify_token).await;
            if !callback_verified {
                continue;
            }
            tracing::info!(%url, "sandbox: webhook callback verified");
        }
        for payload in sandbox.take_due_deliveries() {
            let (client, url, secret) = (
                client.clone(),
                url.clone(),
                sandbox.settings.app_secret.clone(),
            );
            tokio::spawn(async move {
                if !deliver(&client, &url, &secret, &payload).await {
                    tracing::warn!(%url, "sandbox: a webhook delivery was never acknowledged");
                }
            });
        }
        for template in sandbox.take_unannounced_reviews() {
            if sandbox.take_fault("webhook.template_status").is_some() {
                tracing::info!(template = %template.id, "sandbox: dropped a template webhook (fault)");
                continue;
            }
            let payload = template_status_payload(&template);
            let client = client.clone();
            let url = url.clone();
            let secret = sandbox.settings.app_secret.clone();
            tokio::spawn(async move {
                if !deliver(&client, &url, &secret, &payload).await {
                    tracing::warn!(%url, "sandbox: a webhook delivery was never acknowledged");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_as_utf16() {
        let text = ascii_json(&json!({ "t": "été 😀" }));
        assert_eq!(text, r#"{"t":"\u00e9t\u00e9 \ud83d\ude00"}"#);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["t"], "été 😀");
    }
}
