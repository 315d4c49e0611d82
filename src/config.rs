//! Settings: one typed struct, read once from `BAZAARSTREET_*` environment variables, with
//! documented defaults (see docs/OPERATIONS.md). Nothing else in the crate reads the
//! environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;

pub mod meta;

pub use meta::{MetaMode, MetaSettings};

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PostgreSQL URL; the database is created if missing.
    pub database_url: String,
    /// Connections in the pool.
    pub database_pool_size: u32,
    /// HTTP listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Directory of workflow definitions.
    pub workflows_dir: PathBuf,
    /// Directory of recurring schedules.
    pub jobs_dir: PathBuf,
    /// Steps one process executes at once.
    pub worker_concurrency: usize,
    /// apalis workers (fetch loops) per process sharing `worker_concurrency`.
    pub worker_fetchers: usize,
    /// Concurrent group-commit writers for step claims, and as many for completions.
    pub worker_batch_writers: usize,
    /// Worker heartbeat; a worker silent for three heartbeats has its jobs rescued.
    pub worker_heartbeat: Duration,
    /// How long in-flight steps may finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Header read time, idle keep-alive and connection count bounds of the API's server.
    pub http: ConnectionLimits,
    /// Finished apalis job rows older than this are deleted.
    pub job_retention: Duration,
    /// A run in progress without a live job for this long is given a new one.
    pub stranded_after: Duration,
    /// Meta's Graph API, the sandbox, the token encryption key.
    pub meta: MetaSettings,
    /// Operational endpoints served without an API key (the others of
    /// [`OPERATIONAL_PATHS`] need any valid key). `/v1` always needs a key.
    pub open_paths: Vec<String>,
    /// Which log lines are written (`BAZAARSTREET_LOG`, a tracing filter).
    pub log_filter: String,
    /// How log lines are written (`BAZAARSTREET_LOG_FORMAT`: `text` or `json`).
    pub log_format: LogFormat,
}

/// How long the API's connections may take and how many may be open
/// (src/api/server.rs enforces them).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From a request's first byte to the end of its headers.
    pub header_timeout: Duration,
    /// A kept-alive connection without a request (and a new one before its first byte).
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 4_096,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event; colour only when stderr is a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The default log filter: our own lines at info, the libraries' only when they warn.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,apalis=warn,apalis_core=warn";

/// Endpoints outside `/v1`: health, readiness, the document, its UI, metrics.
pub const OPERATIONAL_PATHS: [&str; 5] =
    ["/healthz", "/readyz", "/openapi.json", "/docs", "/metrics"];

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {message}")]
pub struct SettingsError {
    name: &'static str,
    message: String,
}

impl SettingsError {
    /// A problem with one setting.
    pub fn new(name: &'static str, message: String) -> Self {
        Self { name, message }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/bazaarstreet".into(),
            database_pool_size: 20,
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            workflows_dir: "./workflows".into(),
            jobs_dir: "./jobs".into(),
            worker_concurrency: 200,
            worker_batch_writers: 4,
            worker_fetchers: 2,
            worker_heartbeat: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            http: ConnectionLimits::default(),
            meta: MetaSettings::default(),
            job_retention: Duration::from_secs(24 * 3600),
            stranded_after: Duration::from_secs(300),
            open_paths: OPERATIONAL_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            log_format: LogFormat::Text,
        }
    }
}

impl Settings {
    /// Reads settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut settings = Self::default();
        let get = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        settings.meta = MetaSettings::from_lookup(get)?;
        if let Some(url) = get("BAZAARSTREET_DATABASE_URL") {
            settings.database_url = database_url(&url)?;
        }
        if let Some(size) = get("BAZAARSTREET_DATABASE_POOL_SIZE") {
            settings.database_pool_size = number("BAZAARSTREET_DATABASE_POOL_SIZE", &size)?;
        }
        if let Some(listen) = get("BAZAARSTREET_LISTEN") {
            settings.listen = listen.parse().map_err(|_| SettingsError {
                name: "BAZAARSTREET_LISTEN",
                message: format!("`{listen}` is not a socket address like 127.0.0.1:8080"),
            })?;
        }
        if let Some(dir) = get("BAZAARSTREET_WORKFLOWS_DIR") {
            settings.workflows_dir = dir.into();
        }
        if let Some(dir) = get("BAZAARSTREET_JOBS_DIR") {
            settings.jobs_dir = dir.into();
        }
        if let Some(value) = get("BAZAARSTREET_WORKER_CONCURRENCY") {
            settings.worker_concurrency = number("BAZAARSTREET_WORKER_CONCURRENCY", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_WORKER_FETCHERS") {
            settings.worker_fetchers = number("BAZAARSTREET_WORKER_FETCHERS", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_WORKER_BATCH_WRITERS") {
            settings.worker_batch_writers = number("BAZAARSTREET_WORKER_BATCH_WRITERS", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_WORKER_HEARTBEAT") {
            settings.worker_heartbeat = duration("BAZAARSTREET_WORKER_HEARTBEAT", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_SHUTDOWN_GRACE") {
            settings.shutdown_grace = duration("BAZAARSTREET_SHUTDOWN_GRACE", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_MAX_BODY_BYTES") {
            settings.max_body_bytes = number("BAZAARSTREET_MAX_BODY_BYTES", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_HTTP_HEADER_TIMEOUT") {
            settings.http.header_timeout = duration("BAZAARSTREET_HTTP_HEADER_TIMEOUT", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_HTTP_IDLE_TIMEOUT") {
            settings.http.idle_timeout = duration("BAZAARSTREET_HTTP_IDLE_TIMEOUT", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_HTTP_MAX_CONNECTIONS") {
            settings.http.max_connections = number("BAZAARSTREET_HTTP_MAX_CONNECTIONS", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_JOB_RETENTION") {
            settings.job_retention = duration("BAZAARSTREET_JOB_RETENTION", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_STRANDED_AFTER") {
            settings.stranded_after = duration("BAZAARSTREET_STRANDED_AFTER", &value)?;
        }
        if let Some(value) = get("BAZAARSTREET_OPEN_PATHS") {
            settings.open_paths = open_paths(&value)?;
        }
        if let Some(value) = get("BAZAARSTREET_LOG") {
            settings.log_filter = value;
        }
        if let Some(value) = get("BAZAARSTREET_LOG_FORMAT") {
            settings.log_format = match value.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(SettingsError {
                        name: "BAZAARSTREET_LOG_FORMAT",
                        message: format!("`{other}` is not a log format; use text or json"),
                    });
                }
            };
        }
        Ok(settings)
    }
}

/// A PostgreSQL URL, or an error naming the setting and the URL (its password hidden).
fn database_url(url: &str) -> Result<String, SettingsError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        return Err(SettingsError {
            name: "BAZAARSTREET_DATABASE_URL",
            message: format!(
                "`{}` is not a PostgreSQL URL; it starts with postgres:// (for example \
                 postgres://postgres@127.0.0.1:5432/bazaarstreet)",
                redact_url(url)
            ),
        });
    }
    Ok(url.to_owned())
}

/// `url` with the password of its user part replaced by `***`, fit for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_part, host)) => match user_part.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, SettingsError> {
    value.trim().parse().map_err(|_| SettingsError {
        name,
        message: format!("`{value}` is not a positive whole number"),
    })
}

/// A comma-separated subset of [`OPERATIONAL_PATHS`] (empty: all of them need a key).
fn open_paths(value: &str) -> Result<Vec<String>, SettingsError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .map(|path| {
            if OPERATIONAL_PATHS.contains(&path) {
                Ok(path.to_owned())
            } else {
                Err(SettingsError {
                    name: "BAZAARSTREET_OPEN_PATHS",
                    message: format!(
                        "`{path}` is not one of {}; /v1 endpoints always need a key",
                        OPERATIONAL_PATHS.join(", ")
                    ),
                })
            }
        })
        .collect()
}

fn duration(name: &'static str, value: &str) -> Result<Duration, SettingsError> {
    parse_duration(value).map_err(|message| SettingsError { name, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(settings.listen.port(), 8080);
        assert!(settings.database_url.ends_with("/bazaarstreet"));
    }

    #[test]
    fn open_paths_are_a_subset_of_the_operational_endpoints() {
        let settings = Settings::from_lookup(|name| {
            (name == "BAZAARSTREET_OPEN_PATHS").then(|| "/healthz, /readyz".to_owned())
        })
        .unwrap();
        assert_eq!(settings.open_paths, ["/healthz", "/readyz"]);
        let error = Settings::from_lookup(|name| {
            (name == "BAZAARSTREET_OPEN_PATHS").then(|| "/v1/runs".to_owned())
        })
        .unwrap_err();
        assert!(error.to_string().contains("always need a key"));
    }

    #[test]
    fn a_database_url_must_be_postgres_and_errors_hide_its_password() {
        let error = Settings::from_lookup(|name| {
            (name == "BAZAARSTREET_DATABASE_URL").then(|| "mysql://root:hunter2@db/app".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("BAZAARSTREET_DATABASE_URL"), "{error}");
        assert!(error.contains("mysql://root:***@db/app"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        for url in [
            "postgres://u@h/d",
            "postgresql://u:p@h:5433/d?sslmode=require",
        ] {
            let settings = Settings::from_lookup(|name| {
                (name == "BAZAARSTREET_DATABASE_URL").then(|| url.to_owned())
            })
            .unwrap();
            assert_eq!(settings.database_url, url);
        }
        assert_eq!(
            redact_url("postgres://u:p@h:5433/d?x=1"),
            "postgres://u:***@h:5433/d?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let error = Settings::from_lookup(|name| {
            (name == "BAZAARSTREET_SHUTDOWN_GRACE").then(|| "soon".to_owned())
        })
        .unwrap_err();
        assert!(error.to_string().contains("BAZAARSTREET_SHUTDOWN_GRACE"));
    }
}
