//! Connecting to PostgreSQL: create the database if missing, pool, migrations
//! (apalis's into its own `apalis` schema, ours into `public`).

use std::future::Future;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgPool};

/// Our migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the database could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Could not connect: names where, and the setting that says so (never a password).
    #[error("cannot connect to the database {target} (BAZAARSTREET_DATABASE_URL): {reason}")]
    Connect {
        /// `user@host:port/database`.
        target: String,
        /// What went wrong, in words (the server's message, without its source position).
        reason: String,
        /// Cause.
        source: sqlx::Error,
    },
    /// Could not query.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// apalis's own setup failed.
    #[error("job queue setup: {0}")]
    Queue(#[from] apalis_postgres::Error),
}

/// Connection options for `url`.
///
/// A server on this host (a loopback address or a Unix socket) is reached without TLS
/// unless the URL's `sslmode` or `PGSSLMODE` asks for it: the bytes never leave the
/// machine, so encryption protects nothing there, and it cost half the engine's throughput
/// (docs/BENCHMARKS.md). Anywhere else the driver's default stands (`prefer`). The pool
/// and [`ensure_database`] fall back to TLS when such a server takes nothing else.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(connect_choice(url)?.0)
}

/// The options for `url`, and whether TLS was left out by the rule of [`connect_options`]
/// (rather than by the caller's choice).
fn connect_choice(url: &str) -> Result<(PgConnectOptions, bool), sqlx::Error> {
    connect_choice_given(url, std::env::var_os("PGSSLMODE").is_some())
}

/// [`connect_choice`] with whether `PGSSLMODE` is set passed in (so tests can say).
fn connect_choice_given(
    url: &str,
    pgsslmode_set: bool,
) -> Result<(PgConnectOptions, bool), sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let mode_chosen = url_sets_ssl_mode(url) || pgsslmode_set;
    if !mode_chosen && is_this_host(options.get_host()) {
        return Ok((options.ssl_mode(PgSslMode::Disable), true));
    }
    Ok((options, false))
}

/// Runs `connect` with the options for `url`. If TLS was left out by the rule and the
/// server refuses connections without it (`hostssl` alone in pg_hba.conf), runs it once
/// more with the driver's default, `prefer`.
async fn connect_to<T, F, Fut>(url: &str, connect: F) -> Result<T, sqlx::Error>
where
    F: Fn(PgConnectOptions) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let (options, tls_left_out) = connect_choice(url)?;
    match connect(options.clone()).await {
        Err(error) if tls_left_out && refused_without_tls(&error) => {
            tracing::info!("the database server takes only TLS connections; using TLS");
            connect(options.ssl_mode(PgSslMode::Prefer)).await
        }
        result => result,
    }
}

/// Whether the server refused a connection because it was not encrypted.
fn refused_without_tls(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|error| {
        error.code().as_deref() == Some("28000") && error.message().contains("no encryption")
    })
}

/// Whether the URL's query names an SSL mode (under either spelling the driver accepts).
fn url_sets_ssl_mode(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key == "sslmode" || key == "ssl-mode"
        })
    })
}

/// Whether `host` is this machine: `localhost`, a loopback address, or a socket directory.
fn is_this_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.starts_with('/')
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Where `url` points, as `user@host:port/database` (no password), for errors and logs.
pub fn target(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(options) => format!(
            "{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
        Err(_) => crate::config::redact_url(url),
    }
}

/// A connection failure, naming where it tried.
fn unreachable(url: &str) -> impl FnOnce(sqlx::Error) -> DbError + '_ {
    move |source| DbError::Connect {
        target: target(url),
        reason: reason(&source),
        source,
    }
}

/// An error in words: a server's refusal as its message and SQLSTATE (sqlx's own text
/// appends the position in PostgreSQL's C source, which tells an operator nothing).
fn reason(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(refusal) => format!(
            "the server refused: {} (SQLSTATE {})",
            refusal.message(),
            refusal.code().as_deref().unwrap_or("?")
        ),
        None => error.to_string(),
    }
}

/// Creates the database named in `url` if it does not exist yet.
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let options = connect_options(url).map_err(unreachable(url))?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = connect_to(url, |options| async move {
        options.database("postgres").connect().await
    })
    .await
    .map_err(unreachable(url))?;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let statement = format!("create database \"{}\"", name.replace('"', "\"\""));
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
        {
            // Another replica may have created it at the same moment.
            let raced = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !raced {
                return Err(error.into());
            }
        }
    }
    admin.close().await?;
    Ok(())
}

/// A pool over `url`.
pub async fn connect(url: &str, size: u32) -> Result<PgPool, DbError> {
    let pool = connect_to(url, |options| {
        PgPoolOptions::new()
            .max_connections(size.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
    })
    .await
    .map_err(unreachable(url))?;
    Ok(pool)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// Our migrations applied by this call.
    pub applied_now: usize,
    /// Our migrations the database now has.
    pub total: usize,
}

/// Applies apalis's migrations and ours.
pub async fn migrate(pool: &PgPool) -> Result<Migrated, DbError> {
    apalis_postgres::PostgresStorage::setup(pool).await?;
    let before = applied_count(pool).await?;
    MIGRATOR.run(pool).await?;
    let total = applied_count(pool).await?;
    Ok(Migrated {
        applied_now: total.saturating_sub(before),
        total,
    })
}

/// How many of our migrations the database has (0 before the first run).
async fn applied_count(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await?;
    Ok(usize::try_from(count).unwrap_or_default())
}

/// Whether every embedded migration has been applied.
pub async fn is_migrated(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await?;
    Ok(applied.unwrap_or(0) >= latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_on_this_host_is_reached_without_tls_unless_the_url_asks() {
        let cases = [
            ("postgres://u@127.0.0.1:5432/db", "disable"),
            ("postgres://u@localhost/db", "disable"),
            ("postgres://u@[::1]:5432/db", "disable"),
            ("postgres://u@127.0.0.1/db?sslmode=require", "require"),
            (
                "postgres://u@127.0.0.1/db?application_name=x&ssl-mode=prefer",
                "prefer",
            ),
            ("postgres://u@db.internal/db", "prefer"),
            ("postgres://u@10.0.0.7/db", "prefer"),
        ];
        for (url, expected) in cases {
            let (options, _) = connect_choice_given(url, false).unwrap();
            let expected: PgSslMode = expected.parse().unwrap();
            // PgSslMode has no PartialEq; its Debug form names the variant.
            let mode = options.get_ssl_mode();
            assert_eq!(format!("{mode:?}"), format!("{expected:?}"), "{url}");
        }
        // PGSSLMODE set: the environment chose, and the rule leaves TLS to it.
        let (_, left_out) = connect_choice_given("postgres://u@127.0.0.1/db", true).unwrap();
        assert!(!left_out);
    }

    #[test]
    fn a_connection_target_never_shows_the_password() {
        assert_eq!(
            target("postgres://alice:secret@db.internal:5433/app"),
            "alice@db.internal:5433/app"
        );
    }
}
