//! `GET/POST /webhooks/whatsapp`: Meta's verification handshake, and deliveries — the
//! signature checked over the raw bytes, the body stored (deduplicated) and acknowledged
//! at once; worker processes handle it afterwards (`whatsapp::webhooks`).

use std::collections::HashMap;

use super::problem::Problem;
use crate::engine::Engine;
use crate::whatsapp::webhooks::{self, DeliveryError};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Body, Request, Response, handler};

/// What the webhook endpoint checks deliveries against.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Meta app secret: the HMAC key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// Echo token of the verification handshake.
    pub verify_token: String,
}

fn problem(status: StatusCode, kind: &str, detail: &str) -> Response {
    let body = Problem::new(
        status,
        kind,
        status.canonical_reason().unwrap_or("Error"),
        detail,
    );
    let json = serde_json::json!({
        "type": body.kind, "title": body.title, "status": body.status, "detail": body.detail,
    });
    Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(json.to_string())
}

/// The handshake: `hub.mode=subscribe`, our verify token, echo `hub.challenge`.
#[handler]
pub async fn verify(
    config: Data<&WebhookConfig>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let subscribe = params.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = params.get("hub.verify_token") == Some(&config.verify_token);
    match params.get("hub.challenge") {
        Some(challenge) if subscribe && token_ok => Response::builder()
            .content_type("text/plain")
            .body(challenge.clone()),
        _ => problem(
            StatusCode::FORBIDDEN,
            "webhook-verification-failed",
            "hub.mode must be `subscribe` and hub.verify_token must match",
        ),
    }
}

/// A delivery: 401 (and nothing stored) unless signed over these exact bytes.
#[handler]
pub async fn receive(
    config: Data<&WebhookConfig>,
    engine: Data<&Engine>,
    request: &Request,
    body: Body,
) -> Response {
    let Ok(bytes) = body.into_vec().await else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "the body could not be read",
        );
    };
    let signature = request.header("x-hub-signature-256");
    match webhooks::take_delivery(engine.pool(), &config.app_secret, &bytes, signature).await {
        // A duplicate is acknowledged too: Meta must stop retrying it.
        Ok(_) => Response::builder()
            .status(StatusCode::OK)
            .body("EVENT_RECEIVED"),
        Err(error @ DeliveryError::BadSignature) => problem(
            StatusCode::UNAUTHORIZED,
            "bad-webhook-signature",
            &error.to_string(),
        ),
        Err(DeliveryError::Database(error)) => {
            tracing::error!(error = %error, "storing a webhook delivery failed");
            // Not acknowledged: Meta delivers it again later.
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "the delivery could not be stored; retry",
            )
        }
    }
}
