//! The Graph API client: one method per call the workflows make, every call recorded in
//! `graph_calls` (operation, workspace, run and step, status, error code, duration —
//! never a token or a message body).

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{Envelope, GraphError, Handling};
pub use super::wire::{
    AccessToken, GranularScope, PhoneNumber, RemoteTemplate, SentMessage, TemplateMessage,
    TokenInfo,
};
use super::wire::{DataList, DebugTokenResponse, SendResponse, Success};
use crate::metrics::{Counter, METRICS};
use crate::store;

/// Where the Graph API is and who we are to it.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// `https://graph.facebook.com`, or the sandbox's address.
    pub base_url: String,
    /// Pinned version, e.g. `v25.0`, sent in every path.
    pub version: String,
    /// Meta app id.
    pub app_id: String,
    /// Meta app secret (also the webhook signing key).
    pub app_secret: String,
}

/// Who a call is made for, for the call record.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Workspace.
    pub workspace_id: Option<String>,
    /// Run.
    pub run_id: Option<Uuid>,
    /// Step.
    pub step_id: Option<String>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Meta answered with an error envelope (boxed: it is large and errors are rare).
    #[error(transparent)]
    Graph(Box<GraphError>),
    /// No answer (connection refused, timeout): worth retrying.
    #[error("Graph API unreachable: {0}")]
    Transport(String),
    /// An answer we could not read.
    #[error("unexpected Graph API answer (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
}

impl CallError {
    /// How a workflow handles it.
    pub fn handling(&self) -> Handling {
        match self {
            CallError::Graph(error) => error.handling(),
            CallError::Transport(_) => Handling::Retry,
            CallError::Unexpected { status, .. } if *status >= 500 => Handling::Retry,
            CallError::Unexpected { .. } => Handling::Permanent,
        }
    }

    /// The Graph error code, if Meta sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            CallError::Graph(error) => Some(error.code),
            _ => None,
        }
    }
}

/// The Graph API client.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    settings: GraphSettings,
    recorder: Option<PgPool>,
    limiter: std::sync::Arc<super::limiter::SendLimiter>,
}

/// Longest a single Graph call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl GraphClient {
    /// A client; with `recorder`, every call is recorded in `graph_calls`.
    pub fn new(settings: GraphSettings, recorder: Option<PgPool>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .expect("an HTTP client");
        Self {
            http,
            settings,
            recorder,
            limiter: Default::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &GraphSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.version,
            path.trim_start_matches('/')
        )
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends a request, records it, and reads the answer or the Graph error.
    async fn call<T: DeserializeOwned>(
        &self,
        context: &CallContext,
        operation: &'static str,
        request: RequestBuilder,
    ) -> Result<T, CallError> {
        let started = Instant::now();
        let result = match request.send().await {
            Err(error) => Err(CallError::Transport(without_url(error))),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Err(error) => Err(CallError::Transport(without_url(error))),
                    Ok(body) => read_answer(status, &body),
                }
            }
        };
        self.record(context, operation, &result, started.elapsed())
            .await;
        result.map(|(_, value)| value)
    }

    async fn record<T>(
        &self,
        context: &CallContext,
        operation: &'static str,
        result: &Result<(u16, T), CallError>,
        took: Duration,
    ) {
        let (status, code) = match result {
            Ok((status, _)) => (Some(i32::from(*status)), None),
            Err(CallError::Unexpected { status, .. }) => (Some(i32::from(*status)), None),
            Err(error) => (None, error.code()),
        };
        let outcome = if result.is_ok() { "ok" } else { "error" };
        METRICS.count(
            Counter::GraphCalls,
            &[("operation", operation), ("outcome", outcome)],
        );
        let Some(pool) = &self.recorder else { return };
        let recorded = store::graph_calls::insert(
            pool,
            &store::graph_calls::NewCall {
                operation,
                workspace_id: context.workspace_id.as_deref(),
                run_id: context.run_id,
                step_id: context.step_id.as_deref(),
                outcome,
                http_status: status,
                error_code: code,
                duration_ms: took.as_secs_f64() * 1000.0,
            },
        )
        .await;
        if let Err(error) = recorded {
            tracing::warn!(error = %error, operation, "could not record a Graph call");
        }
    }

    /// Exchanges an Embedded Signup code for a business token.
    pub async fn exchange_code(
        &self,
        context: &CallContext,
        code: &str,
    ) -> Result<AccessToken, CallError> {
        let request = self
            .request(Method::GET, "oauth/access_token", None)
            .query(&[
                ("client_id", self.settings.app_id.as_str()),
                ("client_secret", self.settings.app_secret.as_str()),
                ("code", code),
            ]);
        self.call(context, "oauth.exchange_code", request).await
    }

    /// What a token may do, and the WABAs it was granted (newest first).
    pub async fn debug_token(
        &self,
        context: &CallContext,
        token: &str,
    ) -> Result<TokenInfo, CallError> {
        let app_token = format!("{}|{}", self.settings.app_id, self.settings.app_secret);
        let request = self
            .request(Method::GET, "debug_token", Some(&app_token))
            .query(&[("input_token", token)]);
        let answer: DebugTokenResponse = self.call(context, "debug_token", request).await?;
        Ok(answer.data)
    }

    /// The WABA's phone numbers.
    pub async fn phone_numbers(
        &self,
        context: &CallContext,
        token: &str,
        waba_id: &str,
    ) -> Result<Vec<PhoneNumber>, CallError> {
        let request = self.request(
            Method::GET,
            &format!("{waba_id}/phone_numbers"),
            Some(token),
        );
        let answer: DataList<PhoneNumber> =
            self.call(context, "waba.phone_numbers", request).await?;
        Ok(answer.data)
    }

    /// Subscribes our app to the WABA's webhooks.
    pub async fn subscribe_app(
        &self,
        context: &CallContext,
        token: &str,
        waba_id: &str,
    ) -> Result<(), CallError> {
        let request = self
            .request(
                Method::POST,
                &format!("{waba_id}/subscribed_apps"),
                Some(token),
            )
            .json(&json!({}));
        let answer: Success = self.call(context, "waba.subscribe_app", request).await?;
        expect_success(answer)
    }

    /// Removes our app's subscription to the WABA's webhooks.
    pub async fn unsubscribe_app(
        &self,
        context: &CallContext,
        token: &str,
        waba_id: &str,
    ) -> Result<(), CallError> {
        let request = self.request(
            Method::DELETE,
            &format!("{waba_id}/subscribed_apps"),
            Some(token),
        );
        let answer: Success = self.call(context, "waba.unsubscribe_app", request).await?;
        expect_success(answer)
    }

    /// Deregisters a phone number from the Cloud API.
    pub async fn deregister_phone(
        &self,
        context: &CallContext,
        token: &str,
        phone_number_id: &str,
    ) -> Result<(), CallError> {
        let request = self
            .request(
                Method::POST,
                &format!("{phone_number_id}/deregister"),
                Some(token),
            )
            .json(&json!({}));
        let answer: Success = self.call(context, "phone.deregister", request).await?;
        expect_success(answer)
    }

    /// Registers a phone number for the Cloud API with its two-step PIN.
    pub async fn register_phone(
        &self,
        context: &CallContext,
        token: &str,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<(), CallError> {
        let request = self
            .request(
                Method::POST,
                &format!("{phone_number_id}/register"),
                Some(token),
            )
            .json(&json!({ "messaging_product": "whatsapp", "pin": pin }));
        let answer: Success = self.call(context, "phone.register", request).await?;
        expect_success(answer)
    }

    /// Submits a template for review.
    pub async fn create_template(
        &self,
        context: &CallContext,
        token: &str,
        waba_id: &str,
        template: &Value,
    ) -> Result<RemoteTemplate, CallError> {
        let request = self
            .request(
                Method::POST,
                &format!("{waba_id}/message_templates"),
                Some(token),
            )
            .json(template);
        self.call(context, "template.create", request).await
    }

    /// Templates of the WABA, optionally only those named `name`.
    pub async fn list_templates(
        &self,
        context: &CallContext,
        token: &str,
        waba_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<RemoteTemplate>, CallError> {
        let mut request = self.request(
            Method::GET,
            &format!("{waba_id}/message_templates"),
            Some(token),
        );
        if let Some(name) = name {
            request = request.query(&[("name", name)]);
        }
        let answer: DataList<RemoteTemplate> = self.call(context, "template.list", request).await?;
        Ok(answer.data)
    }

    /// One template's current status.
    pub async fn template_status(
        &self,
        context: &CallContext,
        token: &str,
        template_id: &str,
    ) -> Result<RemoteTemplate, CallError> {
        let request = self
            .request(Method::GET, template_id, Some(token))
            .query(&[("fields", "status,category,name,language")]);
        self.call(context, "template.status", request).await
    }
}

impl GraphClient {
    /// Sends a template message, waiting for its slot under Meta's per-number and
    /// per-recipient limits. The body is never recorded or logged.
    pub async fn send_template(
        &self,
        context: &CallContext,
        token: &str,
        phone_number_id: &str,
        message: &TemplateMessage<'_>,
    ) -> Result<SentMessage, CallError> {
        self.limiter.wait(phone_number_id, message.to).await;
        let parameters: Vec<Value> = message
            .parameters
            .iter()
            .map(|text| json!({ "type": "text", "text": text }))
            .collect();
        let mut body = json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to,
            "type": "template",
            "template": {
                "name": message.template, "language": { "code": message.language },
                "components": [{ "type": "body", "parameters": parameters }],
            },
        });
        if let Some(code) = message.copy_code {
            body["template"]["components"]
                .as_array_mut()
                .expect("components is an array")
                .push(json!({
                    "type": "button", "sub_type": "url", "index": "0",
                    "parameters": [{ "type": "text", "text": code }],
                }));
        }
        if let Some(data) = message.callback_data {
            body["biz_opaque_callback_data"] = json!(data);
        }
        let request = self
            .request(
                Method::POST,
                &format!("{phone_number_id}/messages"),
                Some(token),
            )
            .json(&body);
        let answer: SendResponse = self.call(context, "message.send", request).await?;
        answer
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| CallError::Unexpected {
                status: 200,
                detail: "no message in the answer".to_owned(),
            })
    }
}

fn expect_success(answer: Success) -> Result<(), CallError> {
    if answer.success {
        Ok(())
    } else {
        Err(CallError::Unexpected {
            status: 200,
            detail: "`success` was false".to_owned(),
        })
    }
}

/// Reads a body as `T`, or as the Graph error envelope, whatever the HTTP status says.
fn read_answer<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<(u16, T), CallError> {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        return Err(CallError::Graph(Box::new(envelope.error)));
    }
    if !(200..300).contains(&status) {
        return Err(CallError::Unexpected {
            status,
            detail: "an error without a Graph error body".to_owned(),
        });
    }
    serde_json::from_slice(body)
        .map(|value| (status, value))
        .map_err(|error| CallError::Unexpected {
            status,
            detail: error.to_string(),
        })
}

/// A transport error's text without its URL: URLs carry the app secret and codes.
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}
