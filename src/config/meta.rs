//! Settings for Meta's Graph API, the sandbox that stands in for it, and the key that
//! encrypts access tokens.

use std::net::SocketAddr;

use super::SettingsError;

/// Whether the service talks to Meta or to its own sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaMode {
    /// The in-process sandbox (the default: a fresh install works without Meta).
    Sandbox,
    /// Meta's Graph API.
    Live,
}

/// Meta settings.
#[derive(Debug, Clone)]
pub struct MetaSettings {
    /// `BAZAARSTREET_META_MODE`: `sandbox` (default) or `live`.
    pub mode: MetaMode,
    /// `BAZAARSTREET_META_GRAPH_URL`: default the sandbox's address, or
    /// `https://graph.facebook.com` in live mode.
    pub graph_url: Option<String>,
    /// `BAZAARSTREET_META_GRAPH_VERSION`, default `v25.0`.
    pub graph_version: String,
    /// `BAZAARSTREET_META_APP_ID` (required in live mode).
    pub app_id: String,
    /// `BAZAARSTREET_META_APP_SECRET` (required in live mode). Signs webhooks.
    pub app_secret: String,
    /// `BAZAARSTREET_META_WEBHOOK_VERIFY_TOKEN`: echoed in the webhook handshake.
    pub webhook_verify_token: String,
    /// `BAZAARSTREET_META_SANDBOX_LISTEN`, default `127.0.0.1:8081`.
    pub sandbox_listen: SocketAddr,
    /// `BAZAARSTREET_META_SANDBOX_REVIEW_DELAY`, default `5s`: how long the sandbox keeps
    /// a template PENDING.
    pub sandbox_review_delay: std::time::Duration,
    /// `BAZAARSTREET_SECRET_KEY`: 64 hex characters (AES-256) encrypting stored tokens.
    /// Required in live mode; the sandbox falls back to a development key.
    pub secret_key: Option<String>,
}

/// Meta's Graph API.
pub const META_GRAPH_URL: &str = "https://graph.facebook.com";

impl Default for MetaSettings {
    fn default() -> Self {
        Self {
            mode: MetaMode::Sandbox,
            graph_url: None,
            graph_version: "v25.0".to_owned(),
            app_id: "1000000000000001".to_owned(),
            app_secret: "sandbox-app-secret".to_owned(),
            webhook_verify_token: "sandbox-verify-token".to_owned(),
            sandbox_listen: "127.0.0.1:8081".parse().expect("valid default address"),
            sandbox_review_delay: std::time::Duration::from_secs(5),
            secret_key: None,
        }
    }
}

impl MetaSettings {
    /// Reads `BAZAARSTREET_META_*` and `BAZAARSTREET_SECRET_KEY`.
    pub fn from_lookup(
        get: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let mut settings = Self::default();
        if let Some(mode) = get("BAZAARSTREET_META_MODE") {
            settings.mode = match mode.trim() {
                "sandbox" => MetaMode::Sandbox,
                "live" => MetaMode::Live,
                other => {
                    return Err(SettingsError::new(
                        "BAZAARSTREET_META_MODE",
                        format!("`{other}` is neither `sandbox` nor `live`"),
                    ));
                }
            };
        }
        settings.graph_url = get("BAZAARSTREET_META_GRAPH_URL");
        if let Some(version) = get("BAZAARSTREET_META_GRAPH_VERSION") {
            settings.graph_version = version;
        }
        let app_id = get("BAZAARSTREET_META_APP_ID");
        let app_secret = get("BAZAARSTREET_META_APP_SECRET");
        if settings.mode == MetaMode::Live {
            for (name, value) in [
                ("BAZAARSTREET_META_APP_ID", &app_id),
                ("BAZAARSTREET_META_APP_SECRET", &app_secret),
                ("BAZAARSTREET_SECRET_KEY", &get("BAZAARSTREET_SECRET_KEY")),
                (
                    "BAZAARSTREET_META_WEBHOOK_VERIFY_TOKEN",
                    &get("BAZAARSTREET_META_WEBHOOK_VERIFY_TOKEN"),
                ),
            ] {
                if value.is_none() {
                    return Err(SettingsError::new(name, "required in live mode".to_owned()));
                }
            }
        }
        if let Some(id) = app_id {
            settings.app_id = id;
        }
        if let Some(secret) = app_secret {
            settings.app_secret = secret;
        }
        if let Some(token) = get("BAZAARSTREET_META_WEBHOOK_VERIFY_TOKEN") {
            settings.webhook_verify_token = token;
        }
        if let Some(listen) = get("BAZAARSTREET_META_SANDBOX_LISTEN") {
            settings.sandbox_listen = listen.parse().map_err(|_| {
                SettingsError::new(
                    "BAZAARSTREET_META_SANDBOX_LISTEN",
                    format!("`{listen}` is not an address like 127.0.0.1:8081"),
                )
            })?;
        }
        if let Some(delay) = get("BAZAARSTREET_META_SANDBOX_REVIEW_DELAY") {
            settings.sandbox_review_delay =
                crate::duration::parse_duration(&delay).map_err(|message| {
                    SettingsError::new("BAZAARSTREET_META_SANDBOX_REVIEW_DELAY", message)
                })?;
        }
        if let Some(key) = get("BAZAARSTREET_SECRET_KEY") {
            if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(SettingsError::new(
                    "BAZAARSTREET_SECRET_KEY",
                    "must be 64 hex characters (32 bytes); the value is not shown".to_owned(),
                ));
            }
            settings.secret_key = Some(key);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_mode_refuses_to_start_without_each_of_its_secrets() {
        let secrets = [
            ("BAZAARSTREET_META_APP_ID", "1234"),
            ("BAZAARSTREET_META_APP_SECRET", "app-secret"),
            ("BAZAARSTREET_SECRET_KEY", &"ab".repeat(32)),
            ("BAZAARSTREET_META_WEBHOOK_VERIFY_TOKEN", "verify"),
        ];
        // Each secret left out alone is named; all of them given, live mode starts.
        for (missing, _) in secrets {
            let error = MetaSettings::from_lookup(|name| {
                if name == "BAZAARSTREET_META_MODE" {
                    return Some("live".to_owned());
                }
                secrets
                    .iter()
                    .find(|(secret, _)| *secret == name && *secret != missing)
                    .map(|(_, value)| (*value).to_owned())
            })
            .unwrap_err()
            .to_string();
            assert!(error.contains(missing), "{error}");
            assert!(error.contains("required in live mode"), "{error}");
        }
        let live = MetaSettings::from_lookup(|name| {
            if name == "BAZAARSTREET_META_MODE" {
                return Some("live".to_owned());
            }
            secrets
                .iter()
                .find(|(secret, _)| *secret == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap();
        assert_eq!(live.mode, MetaMode::Live);
        let sandbox = MetaSettings::from_lookup(|_| None).unwrap();
        assert_eq!(sandbox.mode, MetaMode::Sandbox);
        assert!(sandbox.secret_key.is_none());
    }

    #[test]
    fn a_bad_secret_key_is_refused_without_showing_it() {
        let error = MetaSettings::from_lookup(|name| {
            (name == "BAZAARSTREET_SECRET_KEY").then(|| "hunter2".to_owned())
        })
        .unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }
}
