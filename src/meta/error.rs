//! The Graph error envelope, and its classification: decided by `error.code` (and
//! `is_transient`), never by the HTTP status, which Meta does not use consistently
//! (an expired token arrives as 400 or 401, a rate limit as 400 or 429).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `{"error": {...}}` as Meta sends it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Envelope {
    /// The error.
    pub error: GraphError,
}

/// One Graph error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, thiserror::Error)]
#[error("Graph error {code}{}: {message}", subcode.map(|s| format!("/{s}")).unwrap_or_default())]
pub struct GraphError {
    /// Human-readable message, e.g. `(#131030) Recipient phone number not in allowed list`.
    pub message: String,
    /// `OAuthException`, `GraphMethodException`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What decides the handling.
    pub code: i64,
    /// Refines `code` (e.g. 2388024: template content exists in this language).
    #[serde(
        rename = "error_subcode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subcode: Option<i64>,
    /// Set by Meta on errors worth retrying as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_transient: Option<bool>,
    /// Cloud API detail, e.g. `{"details": "…"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<Box<serde_json::Value>>,
    /// Meta's trace id, for support requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
}

/// What a workflow does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Try again with backoff (Meta is unavailable, or said it is transient).
    Retry,
    /// Try again no sooner than this: a rate limit was hit.
    RateLimited(Duration),
    /// The business must connect again through Embedded Signup (the token is invalid).
    NeedsReauth,
    /// Retrying cannot help (bad parameter, missing permission, policy).
    Permanent,
}

/// Waits after a rate-limit error, by code (reference: whatsapp-graph-api.md §A.6, §A.7).
fn rate_limit_wait(code: i64) -> Option<Duration> {
    match code {
        // App-level "too many calls"; WABA management budget (200 requests/hour).
        4 | 80007 | 80008 => Some(Duration::from_secs(60)),
        // Cloud API throughput (80 messages/s per number).
        130429 => Some(Duration::from_secs(1)),
        // Pair rate limit: 1 message per 6 s to the same recipient.
        131056 => Some(Duration::from_secs(6)),
        _ => None,
    }
}

impl GraphError {
    /// How a workflow handles this error.
    pub fn handling(&self) -> Handling {
        if let Some(wait) = rate_limit_wait(self.code) {
            return Handling::RateLimited(wait);
        }
        match self.code {
            190 => Handling::NeedsReauth,
            // Unknown / temporarily unavailable; account in maintenance; generic errors.
            1 | 2 | 131057 | 131000 | 135000 => Handling::Retry,
            _ if self.is_transient == Some(true) => Handling::Retry,
            _ => Handling::Permanent,
        }
    }

    /// A Graph error as the sandbox (and Meta) would send it.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: "OAuthException".to_owned(),
            code,
            subcode: None,
            is_transient: None,
            error_data: None,
            fbtrace_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> GraphError {
        serde_json::from_str::<Envelope>(body).unwrap().error
    }

    #[test]
    fn classification_follows_the_code_not_the_status() {
        let expired = parsed(
            r#"{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A1"}}"#,
        );
        assert_eq!(expired.handling(), Handling::NeedsReauth);
        assert_eq!(expired.subcode, Some(463));
        let transient = parsed(
            r#"{"error":{"message":"(#2) Service temporarily unavailable","type":"OAuthException","code":2,"is_transient":true}}"#,
        );
        assert_eq!(transient.handling(), Handling::Retry);
        assert_eq!(
            GraphError::new(130429, "Rate limit hit").handling(),
            Handling::RateLimited(Duration::from_secs(1))
        );
        assert!(matches!(
            GraphError::new(4, "x").handling(),
            Handling::RateLimited(_)
        ));
        assert!(matches!(
            GraphError::new(80007, "x").handling(),
            Handling::RateLimited(_)
        ));
        assert!(matches!(
            GraphError::new(131056, "x").handling(),
            Handling::RateLimited(_)
        ));
        assert_eq!(
            GraphError::new(100, "bad parameter").handling(),
            Handling::Permanent
        );
        assert_eq!(
            GraphError::new(133016, "register limit").handling(),
            Handling::Permanent
        );
        assert_eq!(
            GraphError::new(200, "no permission").handling(),
            Handling::Permanent
        );
        let mut flagged = GraphError::new(100, "x");
        flagged.is_transient = Some(true);
        assert_eq!(flagged.handling(), Handling::Retry);
    }

    #[test]
    fn the_envelope_round_trips_with_cloud_api_details() {
        let body = r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Add recipient"},"fbtrace_id":"Az"}}"#;
        let error = parsed(body);
        assert_eq!(
            error.error_data.as_ref().unwrap()["details"],
            "Add recipient"
        );
        assert!(error.to_string().contains("131030"));
    }
}
