//! The Graph API's request and response bodies the client reads and writes.

use serde::Deserialize;
use serde_json::Value;

/// `/oauth/access_token`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessToken {
    /// The business token. A secret: store it encrypted, never log it.
    pub access_token: String,
    /// Seconds until it expires, when it does.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// One `granular_scopes` item of `/debug_token`.
#[derive(Debug, Clone, Deserialize)]
pub struct GranularScope {
    /// Scope name.
    pub scope: String,
    /// Assets it covers (WABA ids, newest first).
    #[serde(default)]
    pub target_ids: Vec<String>,
}

/// `/debug_token` data.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    /// Whether the token is valid.
    pub is_valid: bool,
    /// Granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Per-scope assets.
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
}

/// One phone number of a WABA.
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneNumber {
    /// Phone number id.
    pub id: String,
    /// As shown to customers.
    #[serde(default)]
    pub display_phone_number: String,
    /// Verified business name.
    #[serde(default)]
    pub verified_name: String,
    /// GREEN, YELLOW, RED, UNKNOWN or NA.
    #[serde(default)]
    pub quality_rating: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct DataList<T> {
    pub(super) data: Vec<T>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DebugTokenResponse {
    pub(super) data: TokenInfo,
}

#[derive(Debug, Deserialize)]
pub(super) struct Success {
    pub(super) success: bool,
}

/// A template Meta knows.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteTemplate {
    /// Template id.
    pub id: String,
    /// Review status: PENDING, APPROVED, REJECTED, PAUSED, DISABLED, …
    pub status: String,
    /// Category as Meta decided it.
    #[serde(default)]
    pub category: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Language.
    #[serde(default)]
    pub language: Option<String>,
    /// Components.
    #[serde(default)]
    pub components: Option<Value>,
    /// How long Meta tries to deliver its messages, when set.
    #[serde(default)]
    pub message_send_ttl_seconds: Option<i64>,
}

/// An accepted message.
#[derive(Debug, Clone, Deserialize)]
pub struct SentMessage {
    /// `wamid.…`: status webhooks carry it.
    pub id: String,
    /// `accepted`, or `held_for_quality_assessment` (paced templates).
    #[serde(default)]
    pub message_status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SendResponse {
    pub(super) messages: Vec<SentMessage>,
}

/// A template message to send.
#[derive(Debug, Clone)]
pub struct TemplateMessage<'a> {
    /// Recipient phone number (E.164 digits).
    pub to: &'a str,
    /// Approved template name.
    pub template: &'a str,
    /// Its language, e.g. `en_US`.
    pub language: &'a str,
    /// Body parameters for `{{1}}`, `{{2}}`, …
    pub parameters: &'a [String],
    /// Echoed in status webhooks (≤ 512 characters), e.g. `reminder:<id>`.
    pub callback_data: Option<&'a str>,
    /// For an AUTHENTICATION template: the one-time code its copy-code button carries.
    pub copy_code: Option<&'a str>,
}
