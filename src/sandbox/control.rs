//! Control endpoints standing in for Meta's browser flows and for failures.

use std::sync::Arc;
use std::time::Duration;

use poem::web::{Data, Json};
use poem::{handler, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{Fault, Sandbox};
use crate::meta::GraphError;

/// `POST /sandbox/embedded-signup`: `{code, waba_id, phone_number_id, business_id}` as a
/// finished Embedded Signup would hand the browser. The code lives 30 s and works once.
#[handler]
pub async fn embedded_signup(sandbox: Data<&Arc<Sandbox>>) -> Json<Value> {
    let (business, code) = sandbox.embedded_signup();
    Json(json!({
        "code": code,
        "waba_id": business.waba_id,
        "phone_number_id": business.phone_number_id,
        "business_id": business.business_id,
    }))
}

/// A fault to arm.
#[derive(Debug, Deserialize)]
pub struct FaultRequest {
    /// Operation: `oauth.exchange_code`, `debug_token`, `waba.phone_numbers`,
    /// `waba.subscribe_app`, `waba.unsubscribe_app`, `phone.register`, `phone.deregister`,
    /// `template.create`, `template.list`, `template.status`.
    pub operation: String,
    /// Graph error code to answer with (none: only the delay).
    pub code: Option<i64>,
    /// Error subcode.
    pub subcode: Option<i64>,
    /// Error message.
    pub message: Option<String>,
    /// Mark the error transient.
    pub is_transient: Option<bool>,
    /// HTTP status of the error (default 400).
    pub http_status: Option<u16>,
    /// Delay before answering, in milliseconds.
    pub delay_ms: Option<u64>,
    /// How many calls get it (default 1).
    pub times: Option<u32>,
}

/// `POST /sandbox/faults`: the next `times` calls of `operation` get this error or delay.
#[handler]
pub async fn arm_fault(
    sandbox: Data<&Arc<Sandbox>>,
    Json(request): Json<FaultRequest>,
) -> (StatusCode, Json<Value>) {
    let error = request.code.map(|code| {
        let mut error = GraphError::new(
            code,
            request
                .message
                .clone()
                .unwrap_or_else(|| format!("(#{code}) Sandbox fault")),
        );
        error.subcode = request.subcode;
        error.is_transient = request.is_transient;
        error
    });
    sandbox.arm(Fault {
        operation: request.operation.clone(),
        error,
        http_status: request.http_status.unwrap_or(400),
        delay: Duration::from_millis(request.delay_ms.unwrap_or(0)),
        remaining: request.times.unwrap_or(1),
    });
    (
        StatusCode::CREATED,
        Json(json!({ "armed": request.operation, "times": request.times.unwrap_or(1) })),
    )
}

/// A later status for a template.
#[derive(Debug, Deserialize)]
pub struct TemplateStatusRequest {
    /// Meta's template id.
    pub template_id: String,
    /// PAUSED, DISABLED, REINSTATED, APPROVED, FLAGGED, …
    pub status: String,
}

/// `POST /sandbox/template-status`: sets a template's status as Meta's quality checks
/// would, and delivers the `message_template_status_update` webhook.
#[handler]
pub async fn template_status(
    sandbox: Data<&Arc<Sandbox>>,
    Json(request): Json<TemplateStatusRequest>,
) -> (StatusCode, Json<Value>) {
    match sandbox.set_template_status(&request.template_id, &request.status.to_ascii_uppercase()) {
        Some(template) => (
            StatusCode::OK,
            Json(json!({ "id": template.id, "status": template.status })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such template" })),
        ),
    }
}

/// An inbound message to deliver.
#[derive(Debug, Deserialize)]
pub struct InboundRequest {
    /// The business phone number id receiving it.
    pub phone_number_id: String,
    /// The customer's number.
    pub from: String,
    /// Text of the message; with `button_payload`, the text of the tapped button.
    pub text: String,
    /// Makes it a quick-reply button tap with this payload.
    pub button_payload: Option<String>,
    /// The message it answers (a button tap answers the template message it belongs to).
    pub context_id: Option<String>,
}

/// `POST /sandbox/inbound`: a customer writes (or taps a template's quick-reply button);
/// delivered as a `messages` webhook.
#[handler]
pub async fn inbound(
    sandbox: Data<&Arc<Sandbox>>,
    Json(request): Json<InboundRequest>,
) -> (StatusCode, Json<Value>) {
    let Some(business) = sandbox.business_of_phone(&request.phone_number_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such phone number" })),
        );
    };
    // The customer wrote: free-form replies are allowed for 24 hours.
    sandbox
        .reach()
        .open_window(&request.phone_number_id, &request.from);
    let id = format!(
        "wamid.IN{}",
        hex::encode(rand::random::<[u8; 12]>()).to_ascii_uppercase()
    );
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut message = match &request.button_payload {
        Some(payload) => {
            json!({ "from": request.from, "id": id, "timestamp": timestamp, "type": "button",
            "button": { "payload": payload, "text": request.text } })
        }
        None => json!({ "from": request.from, "id": id, "timestamp": timestamp, "type": "text",
            "text": { "body": request.text } }),
    };
    if let Some(context) = &request.context_id {
        message["context"] = json!({ "from": business.display_phone_number, "id": context });
    }
    let payload = json!({ "object": "whatsapp_business_account", "entry": [{ "id": business.waba_id, "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": business.display_phone_number, "phone_number_id": business.phone_number_id },
        "contacts": [{ "profile": { "name": "Sandbox Customer" }, "wa_id": request.from }],
        "messages": [message],
    }}]}]});
    sandbox.queue_delivery(Duration::ZERO, payload);
    (StatusCode::ACCEPTED, Json(json!({ "id": id })))
}

/// `GET /sandbox/handsets/{wa_id}`: the template messages a customer's phone received,
/// oldest first, with their parameters as the customer reads them (a one-time code too:
/// this is the customer's own screen).
#[handler]
pub async fn handset(
    sandbox: Data<&Arc<Sandbox>>,
    poem::web::Path(wa_id): poem::web::Path<String>,
) -> Json<Value> {
    Json(json!({ "messages": sandbox.handset(&wa_id) }))
}

/// `GET /sandbox/numbers/{phone_number_id}`: whether the number is registered for the
/// Cloud API and the app subscribed to its WABA, as Meta's dashboard would show.
#[handler]
pub async fn number(
    sandbox: Data<&Arc<Sandbox>>,
    poem::web::Path(phone): poem::web::Path<String>,
) -> (StatusCode, Json<Value>) {
    match sandbox.business_of_phone(&phone) {
        Some(business) => (
            StatusCode::OK,
            Json(json!({
                "phone_number_id": phone,
                "waba_id": business.waba_id,
                "registered": sandbox.is_registered(&phone),
                "subscribed": sandbox.is_subscribed(&business.waba_id),
            })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such number" })),
        ),
    }
}

/// A data deletion callback to send.
#[derive(Debug, Deserialize)]
pub struct DataDeletionRequest {
    /// The Meta user's app-scoped id.
    pub user_id: String,
    /// Sign with this secret instead of the app's (to see a forged callback refused).
    pub secret: Option<String>,
}

/// `POST /sandbox/data-deletion {user_id, secret?}`: sends the service the Data Deletion
/// Request Callback Meta sends when a user removes the app and asks for deletion (a form
/// POST of `signed_request` to `/meta/data-deletion` beside the webhook callback); answers
/// the service's status and body.
#[handler]
pub async fn data_deletion(
    sandbox: Data<&Arc<Sandbox>>,
    Json(request): Json<DataDeletionRequest>,
) -> (StatusCode, Json<Value>) {
    let Some(webhook) = sandbox.settings.callback_url.clone() else {
        return (
            StatusCode::CONFLICT,
            Json(json!({ "error": "the sandbox has no callback to send to" })),
        );
    };
    let url = webhook.replace("/webhooks/whatsapp", "/meta/data-deletion");
    let payload = json!({
        "algorithm": "HMAC-SHA256",
        "user_id": request.user_id,
        "issued_at": chrono::Utc::now().timestamp(),
    });
    let secret = request
        .secret
        .unwrap_or_else(|| sandbox.settings.app_secret.clone());
    let signed = crate::meta::signed_request::sign(&payload, &secret);
    // base64url and `.` need no form encoding.
    let answer = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("signed_request={signed}"))
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            (
                StatusCode::OK,
                Json(json!({ "status": status, "body": body })),
            )
        }
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": error.to_string() })),
        ),
    }
}

/// A phone going offline or coming back.
#[derive(Debug, Deserialize)]
pub struct ConnectivityRequest {
    /// Whether it is reachable.
    pub online: bool,
}

/// `POST /sandbox/handsets/{wa_id}/connectivity`: takes the phone offline (messages to it
/// wait on the network) or back online (it gets those whose time-to-live has not passed,
/// with their `delivered` and `read` statuses; the others were dropped).
#[handler]
pub async fn connectivity(
    sandbox: Data<&Arc<Sandbox>>,
    poem::web::Path(wa_id): poem::web::Path<String>,
    Json(request): Json<ConnectivityRequest>,
) -> Json<Value> {
    let arrived = sandbox.reach().set_online(&wa_id, request.online);
    for held in &arrived {
        sandbox.deliver_to_handset(&held.to, held.message.clone());
        super::webhooks::queue_late_delivery(&sandbox, held);
    }
    Json(json!({ "online": request.online, "delivered": arrived.len() }))
}
