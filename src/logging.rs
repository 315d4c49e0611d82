//! Log output: a tracing subscriber on stderr, filtered by `BAZAARSTREET_LOG`, as text
//! (colour only on a terminal, so files and collectors get no escape codes) or as one JSON
//! object per line (`BAZAARSTREET_LOG_FORMAT=json`).
//!
//! Fields are dotted (`run.id`, `step.id`, `workspace.id`, `workflow.name`) and never
//! carry a secret or personal data (message text, phone numbers, names, tokens, codes).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the process's subscriber. A filter that does not parse falls back to the
/// default and says so.
pub fn init(filter: &str, format: LogFormat) {
    let (filter, bad_filter) = match EnvFilter::try_new(filter) {
        Ok(filter) => (filter, None),
        Err(error) => (
            EnvFilter::new(crate::config::DEFAULT_LOG_FILTER),
            Some(error),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    if let Some(error) = bad_filter {
        tracing::warn!(%error, "BAZAARSTREET_LOG is not a valid filter; using the default");
    }
}
