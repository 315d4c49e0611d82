//! The `bazaarstreet` command: parses the command line and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use bazaarstreet::app::{Application, Roles};
use bazaarstreet::config::Settings;
use bazaarstreet::engine::background::schedule;
use bazaarstreet::engine::definitions::catalog::Catalog;
use bazaarstreet::security::Role;
use bazaarstreet::security::keys::{self, KeyRequest};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bazaarstreet",
    version,
    about = "Bazaarstreet Workflows: durable workflows for a WhatsApp Business back office"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, the workers and the scheduler in one process.
    Serve,
    /// Run only the HTTP API.
    Api,
    /// Run only the workers and the scheduler.
    Worker,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Work with workflow definitions.
    Workflows {
        #[command(subcommand)]
        command: WorkflowsCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check evidence bundles (offline: no database).
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Measure throughput and latency against the configured database.
    Bench(bazaarstreet::bench::BenchArgs),
}

#[derive(Subcommand)]
enum WorkflowsCommand {
    /// Validate every definition and schedule; with a reachable database, also report
    /// definitions changed without a new version.
    Check {
        /// Directory of definitions (default: BAZAARSTREET_WORKFLOWS_DIR or ./workflows).
        dir: Option<PathBuf>,
        /// Database whose stored versions to compare with (default:
        /// BAZAARSTREET_DATABASE_URL; skipped with a note when that one is unreachable).
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Check a bundle from `GET /v1/{privacy,authority}-requests/{id}/evidence`: every
    /// chain link, the timeline and the package against the ledger, and the chain against
    /// a head recorded elsewhere. Names the first altered, missing or reordered entry;
    /// exits 1 when the bundle does not hold.
    Verify {
        /// The bundle (JSON).
        file: PathBuf,
        /// A chain head recorded elsewhere, `SEQ:HASH` (from `GET /v1/audit/head`).
        #[arg(long)]
        head: Option<bazaarstreet::evidence::verify::RecordedHead>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print its token (shown once).
    Create {
        /// Unique name of the person or system the key stands for.
        #[arg(long)]
        name: String,
        /// admin, integrator, compliance_officer, compliance_lead or auditor.
        #[arg(long)]
        role: Role,
        /// Confine the key to one workspace.
        #[arg(long)]
        workspace: Option<String>,
        /// Give the key to an existing person (by id) instead of making a new one.
        #[arg(long)]
        person: Option<bazaarstreet::security::PersonId>,
    },
    /// Approve a key of an approving role made over the API (as the operator, who runs
    /// the service with its database: the second approval when no second admin exists).
    Approve {
        /// Key id.
        id: bazaarstreet::security::KeyId,
    },
    /// List keys (never their tokens).
    List,
    /// Revoke a key by id; it stops working at once.
    Revoke {
        /// Key id.
        id: bazaarstreet::security::KeyId,
    },
}

/// Keys managed from the command line, recorded as the actor `cli`.
const CLI_ACTOR: keys::Administrator<'static> = keys::Administrator::Operator("cli");

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    if let Command::Evidence {
        command: EvidenceCommand::Verify { file, head },
    } = &command
    {
        return verify_evidence(file, head.as_ref());
    }
    let settings = Settings::from_env()?;
    bazaarstreet::logging::init(&settings.log_filter, settings.log_format);
    match command {
        Command::Serve => serve(settings, Roles::All).await,
        Command::Api => serve(settings, Roles::Api).await,
        Command::Worker => serve(settings, Roles::Worker).await,
        Command::Migrate => {
            bazaarstreet::db::ensure_database(&settings.database_url).await?;
            let pool = bazaarstreet::db::connect(&settings.database_url, 2).await?;
            let migrated = bazaarstreet::db::migrate(&pool).await?;
            println!(
                "database {} migrated: {} migration(s) applied now, {} in all",
                bazaarstreet::db::target(&settings.database_url),
                migrated.applied_now,
                migrated.total
            );
            Ok(())
        }
        Command::Workflows {
            command: WorkflowsCommand::Check { dir, database },
        } => check_definitions(&settings, dir, database).await,
        Command::Keys { command } => manage_keys(settings, command).await,
        Command::Openapi => {
            println!("{}", bazaarstreet::api::openapi_json());
            Ok(())
        }
        Command::Bench(args) => bazaarstreet::bench::run(settings, args).await,
        Command::Evidence { .. } => unreachable!("checked offline above"),
    }
}

/// `workflows check`: every definition and schedule valid, and (when a database answers)
/// no definition changed without a new version.
async fn check_definitions(
    settings: &Settings,
    dir: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = dir.unwrap_or(settings.workflows_dir.clone());
    let catalog = Catalog::load_dir(&dir, bazaarstreet::app::handlers_for_checking(settings))?;
    let schedules = schedule::load_dir(&settings.jobs_dir, &catalog)?;
    println!(
        "{} workflow definition(s) in {} and {} schedule(s) in {} are valid",
        catalog.all().len(),
        dir.display(),
        schedules.len(),
        settings.jobs_dir.display()
    );
    let explicit = database.is_some();
    let url = database.unwrap_or(settings.database_url.clone());
    let target = bazaarstreet::db::target(&url);
    let compared = async {
        let options = bazaarstreet::db::connect_options(&url)?;
        let mut conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::ConnectOptions::connect(&options),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
        match catalog.unbumped(&mut conn).await {
            // A database not migrated yet holds no versions to differ from.
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P01") => {
                Ok(vec![])
            }
            result => result,
        }
    }
    .await;
    match compared {
        Ok(unbumped) if unbumped.is_empty() => {
            println!("no definition differs from its stored version in {target}");
            Ok(())
        }
        Ok(unbumped) => {
            for problem in &unbumped {
                eprintln!("error: {problem}");
            }
            Err(format!(
                "{} definition(s) changed without a new version; `serve` on {target} would refuse to start",
                unbumped.len()
            )
            .into())
        }
        Err(error) if explicit => {
            Err(format!("cannot compare with the database {target}: {error}").into())
        }
        Err(error) => {
            eprintln!(
                "note: stored versions not compared ({target} did not answer: {error}); \
                 pass --database URL to compare with another database"
            );
            Ok(())
        }
    }
}

async fn manage_keys(
    settings: Settings,
    command: KeysCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    bazaarstreet::db::ensure_database(&settings.database_url).await?;
    let pool = bazaarstreet::db::connect(&settings.database_url, 2).await?;
    bazaarstreet::db::migrate(&pool).await?;
    match command {
        KeysCommand::Create {
            name,
            role,
            workspace,
            person,
        } => {
            let request = KeyRequest {
                name,
                role,
                workspace_id: workspace,
                person_id: person,
            };
            let (key, token) = keys::create(&pool, &request, CLI_ACTOR).await?;
            println!(
                "created key {} ({}, role {}, person {} {})",
                key.id, key.name, key.role, key.person_id, key.person
            );
            println!("token (shown once, keep it safe): {token}");
        }
        KeysCommand::Approve { id } => {
            let key = keys::approve(&pool, id, CLI_ACTOR).await?;
            println!("approved key {} ({}, role {})", key.id, key.name, key.role);
        }
        KeysCommand::List => {
            for key in keys::list(&pool, None, None).await? {
                let state = match (&key.revoked_at, &key.approved_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, None) => "pending approval".to_owned(),
                    (None, Some(_)) => "live".to_owned(),
                };
                println!(
                    "{}  {:<24} {:<18} {:<16} {}…  {state}",
                    key.id,
                    key.name,
                    key.role,
                    key.workspace_id.as_deref().unwrap_or("(all workspaces)"),
                    key.token_prefix
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let key = keys::revoke(&pool, id, CLI_ACTOR).await?;
            println!("revoked key {} ({})", key.id, key.name);
        }
    }
    Ok(())
}

async fn serve(settings: Settings, roles: Roles) -> Result<(), Box<dyn std::error::Error>> {
    let listen = settings.listen;
    let app = Application::build(settings, roles).await?;
    if roles != Roles::Worker {
        if let Some((key, token)) = keys::bootstrap_admin(app.engine().pool()).await? {
            // Printed once, to the terminal only: the token is a secret and never logged.
            println!(
                "No API key existed, so an admin key `{}` was created.",
                key.name
            );
            println!("Its token (shown once, keep it safe): {token}");
            println!(
                "Make more with `target/release/bazaarstreet keys create --name NAME --role ROLE` \
                 (or `cargo run --release -- keys create …`) or POST /v1/keys."
            );
        }
        let address = std::net::SocketAddr::new(listen.ip(), app.port());
        tracing::info!(%address, port = app.port(), "API listening (BAZAARSTREET_LISTEN)");
    }
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested; finishing in-flight work");
}

/// Checks an evidence bundle offline and says what holds, or the first thing that does
/// not (an error: exit status 1).
fn verify_evidence(
    file: &std::path::Path,
    head: Option<&bazaarstreet::evidence::verify::RecordedHead>,
) -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
    let bundle: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| format!("{} is not JSON: {error}", file.display()))?;
    let verified = bazaarstreet::evidence::verify::verify(&bundle, head)
        .map_err(|finding| format!("the bundle does not hold: {finding}"))?;
    println!(
        "the bundle holds: {} ledger entries of the request, {} chain links to entry {} ({}), {} timeline entries",
        verified.entries, verified.links, verified.head.seq, verified.head.hash, verified.timeline
    );
    if verified.recorded_head_matched {
        println!("the chain passes through the recorded head");
    } else {
        println!(
            "no recorded head was given: the bundle was checked against its own head only; record heads elsewhere (GET /v1/audit/head) and pass one with --head SEQ:HASH"
        );
    }
    Ok(())
}
