//! The sandbox's `messages` endpoint: template sends under Meta's limits, followed by
//! status webhooks.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{Request, Response, handler};
use serde_json::{Value, json};

use super::graph::{Params, authorized_phone, error_response, ok};
use super::state::Sandbox;
use crate::meta::GraphError;

/// `POST /{v}/{phone}/messages`: template messages, and free-form texts within the
/// customer-service window (131047 outside it); to an offline phone a message waits, or
/// is dropped after its time-to-live. Accepted messages get status webhooks
/// (`sent` and `delivered` batched in one delivery, then `read`); faults
/// `webhook.status.skip_delivered`, `webhook.status.duplicate` and
/// `webhook.status.reorder` make them arrive the way Meta sometimes sends them; a fault
/// armed for `message.sent` acts after the message went out (a late or lost answer).
#[handler]
pub async fn send_message(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, phone)): Path<(String, String)>,
    Query(params): Params,
    body: Option<Json<Value>>,
) -> Response {
    let business = match authorized_phone(
        &sandbox,
        "message.send",
        &version,
        request,
        &params,
        &phone,
    )
    .await
    {
        Ok(business) => business,
        Err(response) => return response,
    };
    let body = body.map(|Json(body)| body).unwrap_or_default();
    let to = body["to"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('+')
        .to_owned();
    let name = body["template"]["name"].as_str().unwrap_or_default();
    let language = body["template"]["language"]["code"]
        .as_str()
        .unwrap_or_default();
    let kind = body["type"].as_str().unwrap_or_default();
    if body["messaging_product"] != "whatsapp"
        || to.is_empty()
        || !["template", "text"].contains(&kind)
    {
        return error_response(
            GraphError::new(
                100,
                "(#100) Invalid parameter: messaging_product, to and a template or text are required",
            ),
            StatusCode::BAD_REQUEST,
        );
    }
    let sent = if kind == "text" {
        sandbox.send_text(&phone, &to)
    } else {
        sandbox.send_message(&phone, &business.waba_id, &to, name, language)
    };
    match sent {
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
        Ok(wamid) => {
            let shown = if kind == "text" {
                json!({ "id": wamid, "from_phone_number_id": phone, "text": body["text"]["body"] })
            } else {
                let texts: Vec<Value> = body["template"]["components"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|component| {
                        component["parameters"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                    })
                    .map(|parameter| parameter["text"].clone())
                    .collect();
                json!({ "id": wamid, "from_phone_number_id": phone, "template": name,
                        "language": language, "parameters": texts })
            };
            let callback = body["biz_opaque_callback_data"].as_str();
            if sandbox.reach().is_offline(&to) {
                // On the network until the phone is back, or dropped after its TTL.
                let template = (kind == "template").then_some((name, language));
                let ttl = sandbox.message_ttl(&business.waba_id, template);
                super::webhooks::queue_sent_only(&sandbox, &business, &wamid, &to, callback);
                sandbox.reach().hold(super::reach::Held {
                    to: to.clone(),
                    message: shown,
                    business: business.clone(),
                    wamid: wamid.clone(),
                    callback: callback.map(str::to_owned),
                    expires: std::time::Instant::now() + ttl,
                });
            } else {
                sandbox.deliver_to_handset(&to, shown);
                super::webhooks::queue_statuses(&sandbox, &business, &wamid, &to, callback);
            }
            // `message.sent`: the message went out, and the answer is late or lost (what a
            // sender killed mid-call, or a dropped connection, leaves behind).
            if let Some(response) = super::graph::fault(&sandbox, "message.sent").await {
                return response;
            }
            ok(json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": body["to"], "wa_id": to }],
                "messages": [{ "id": wamid, "message_status": "accepted" }],
            }))
        }
    }
}
