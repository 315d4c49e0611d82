//! Startup as a value: [`Application::build`] prepares the database, the catalog and the
//! listener; [`Application::run_until_stopped`] serves the API and runs the workers and
//! the scheduler until a shutdown future resolves.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use poem::listener::TcpAcceptor;

use crate::api;
use crate::config::{MetaMode, MetaSettings, Settings};
use crate::db;
use crate::domain::{Domain, DomainContext, Shutdown};
use crate::domains;
use crate::engine::Engine;
use crate::engine::background::maintenance::{MaintenanceSettings, run_maintenance};
use crate::engine::background::schedule::{self, Schedule};
use crate::engine::definitions::catalog::{Catalog, RegisterError};
use crate::engine::definitions::validate::DefinitionErrors;
use crate::engine::execution::worker::{WorkerSettings, Workers};
use crate::engine::handlers::HandlerRegistry;
use crate::meta::{GraphClient, GraphSettings};
use crate::sandbox::{Sandbox, SandboxSettings};
use crate::security::secret_box::SecretBox;

/// How often worker processes prune job rows and look for stranded runs.
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Which parts of the service this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roles {
    /// API, workers and scheduler.
    All,
    /// Only the HTTP API.
    Api,
    /// Only workers and the scheduler.
    Worker,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Settings are wrong.
    #[error(transparent)]
    Settings(#[from] crate::config::SettingsError),
    /// The database is unreachable or could not be migrated.
    #[error(transparent)]
    Database(#[from] db::DbError),
    /// A workflow or schedule file is invalid.
    #[error("invalid definitions:\n{0}")]
    Definitions(#[from] DefinitionErrors),
    /// Definitions could not be registered.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// A listener could not be bound.
    #[error("cannot listen on {address} for {what} (set {setting} to another address): {source}")]
    Listen {
        /// What would have listened there.
        what: &'static str,
        /// The setting that chose the address.
        setting: &'static str,
        /// Address.
        address: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A service ready to run.
pub struct Application {
    engine: Engine,
    domains: Vec<Box<dyn Domain>>,
    graph: GraphClient,
    secrets: SecretBox,
    sandbox: Option<(Arc<Sandbox>, TcpAcceptor, u16)>,
    schedules: Vec<Schedule>,
    listener: Option<tokio::net::TcpListener>,
    port: u16,
    settings: Settings,
    roles: Roles,
}

impl Application {
    /// Prepares everything that can fail before serving: database, migrations,
    /// definitions, schedules, listener.
    pub async fn build(settings: Settings, roles: Roles) -> Result<Self, StartupError> {
        Self::build_with_handlers(settings, roles, HandlerRegistry::with_builtins()).await
    }

    /// Like [`Application::build`] with extra handlers (every domain's are added).
    pub async fn build_with_handlers(
        settings: Settings,
        roles: Roles,
        mut registry: HandlerRegistry,
    ) -> Result<Self, StartupError> {
        db::ensure_database(&settings.database_url).await?;
        let pool = db::connect(&settings.database_url, settings.database_pool_size).await?;
        let migrated = db::migrate(&pool).await?;
        tracing::info!(
            db.target = %db::target(&settings.database_url),
            migrations.applied_now = migrated.applied_now,
            migrations.total = migrated.total,
            "database ready"
        );
        let sandbox_listener = if settings.meta.mode == MetaMode::Sandbox && roles != Roles::Worker
        {
            Some(bind_sandbox(&settings.meta).await?)
        } else {
            None
        };
        let graph_target = graph_settings(&settings.meta, sandbox_listener.as_ref().map(|s| s.1));
        tracing::info!(
            meta.mode = ?settings.meta.mode,
            graph.url = %graph_target.base_url,
            graph.version = %graph_target.version,
            "Meta Graph API (BAZAARSTREET_META_MODE)"
        );
        let graph = GraphClient::new(graph_target, Some(pool.clone()));
        let secrets = secret_box(&settings.meta);
        let domains = domains::all(&DomainContext {
            pool: pool.clone(),
            graph: graph.clone(),
            secrets: secrets.clone(),
        });
        for domain in &domains {
            domain.register_handlers(&mut registry);
        }
        let catalog = Catalog::load_dir(&settings.workflows_dir, registry)?;
        let mut conn = pool.acquire().await.map_err(db::DbError::from)?;
        catalog.register(&mut conn).await?;
        drop(conn);
        let schedules = schedule::load_dir(&settings.jobs_dir, &catalog)?;
        log_definitions(&catalog, &schedules, &settings);
        let engine = Engine::new(pool, Arc::new(catalog));
        let (listener, port) = if roles == Roles::Worker {
            (None, 0)
        } else {
            let (listener, port) = bind(settings.listen, "the API", "BAZAARSTREET_LISTEN").await?;
            (Some(listener), port)
        };
        let sandbox = sandbox_listener.map(|(acceptor, sandbox_port)| {
            let sandbox = Sandbox::new(SandboxSettings {
                app_id: settings.meta.app_id.clone(),
                app_secret: settings.meta.app_secret.clone(),
                code_ttl: std::time::Duration::from_secs(30),
                review_delay: settings.meta.sandbox_review_delay,
                // Meta delivers to the app's callback: this service's webhook endpoint.
                callback_url: Some(format!("http://127.0.0.1:{port}/webhooks/whatsapp")),
                verify_token: settings.meta.webhook_verify_token.clone(),
            });
            (Arc::new(sandbox), acceptor, sandbox_port)
        });
        Ok(Self {
            engine,
            domains,
            graph,
            secrets,
            sandbox,
            schedules,
            listener,
            port,
            settings,
            roles,
        })
    }

    /// The port the API listens on (the real one when the settings asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The engine, for callers that drive it directly.
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// The Graph API client (pointing at the sandbox in sandbox mode).
    pub fn graph(&self) -> GraphClient {
        self.graph.clone()
    }

    /// The box that encrypts stored access tokens.
    pub fn secrets(&self) -> SecretBox {
        self.secrets.clone()
    }

    /// The port of the Meta sandbox this process serves, if it serves one.
    pub fn sandbox_port(&self) -> Option<u16> {
        self.sandbox.as_ref().map(|s| s.2)
    }

    /// Serves until `shutdown` resolves; then stops accepting work and lets in-flight
    /// requests and steps finish within the grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let shutdown: Shutdown = shutdown.boxed().shared();
        let grace = self.settings.shutdown_grace;
        let mut tasks = tokio::task::JoinSet::new();
        // Workers before the API: a request taken at the first moment can already hand its
        // step to this process's eager worker.
        let workers = if self.roles == Roles::Api {
            None
        } else {
            let settings = WorkerSettings {
                concurrency: self.settings.worker_concurrency,
                fetchers: self.settings.worker_fetchers,
                shutdown_grace: grace,
                heartbeat: self.settings.worker_heartbeat,
                name_prefix: worker_name_prefix(),
                batch_writers: self.settings.worker_batch_writers,
            };
            Some(Workers::start(self.engine.clone(), settings).await)
        };
        if let Some((sandbox, acceptor, _)) = self.sandbox {
            let signal = shutdown.clone();
            tasks.spawn(async move { crate::sandbox::serve(sandbox, acceptor, signal).await });
        }
        if let Some(listener) = self.listener {
            let webhook = api::webhooks::WebhookConfig {
                app_secret: self.settings.meta.app_secret.clone(),
                verify_token: self.settings.meta.webhook_verify_token.clone(),
            };
            let routes = api::routes(
                self.engine.clone(),
                self.secrets.clone(),
                webhook,
                self.settings.max_body_bytes,
                self.settings.open_paths.clone(),
            );
            let signal = shutdown.clone();
            let limits = self.settings.http;
            tasks.spawn(async move {
                api::server::serve(listener, routes, limits, signal, grace).await
            });
        }
        if let Some(workers) = workers {
            let signal = shutdown.clone().boxed();
            tasks.spawn(async move { workers.run(signal).await.map_err(std::io::Error::other) });
        }
        if self.roles != Roles::Api {
            for domain in &self.domains {
                for background in domain.background_loops(&self.engine, shutdown.clone()) {
                    tracing::debug!(
                        domain = domain.name(),
                        r#loop = background.name,
                        "background loop started"
                    );
                    let task = background.task;
                    tasks.spawn(async move {
                        task.await;
                        Ok(())
                    });
                }
            }
            let engine = self.engine.clone();
            let maintenance = MaintenanceSettings {
                every: MAINTENANCE_EVERY,
                job_retention: self.settings.job_retention,
                stranded_after: self.settings.stranded_after,
            };
            let signal = shutdown.clone();
            tasks.spawn(async move {
                run_maintenance(engine, maintenance, signal).await;
                Ok(())
            });
            let engine = self.engine.clone();
            let schedules = self.schedules;
            let signal = shutdown.clone().boxed();
            tasks.spawn(async move {
                schedule::run_scheduler(engine, schedules, signal).await;
                Ok(())
            });
        }
        let pool = self.engine.pool().clone();
        let signal = shutdown.clone();
        tasks.spawn(async move {
            crate::security::audit::run_chainer(pool, signal).await;
            Ok(())
        });
        let mut outcome = Ok(());
        while let Some(finished) = tasks.join_next().await {
            if let Ok(Err(error)) = finished {
                tracing::error!(error = %error, "a service component stopped with an error");
                outcome = Err(error);
            }
        }
        self.engine.pool().close().await;
        outcome
    }
}

/// The startup summary of what was loaded, so a newcomer sees at once what runs.
fn log_definitions(catalog: &Catalog, schedules: &[Schedule], settings: &Settings) {
    let mut workflows: Vec<String> = catalog
        .all()
        .iter()
        .map(|d| format!("{}@{}", d.name, d.version))
        .collect();
    workflows.sort();
    let names: Vec<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
    tracing::info!(
        workflows.dir = %settings.workflows_dir.display(),
        workflows.count = workflows.len(),
        workflows.names = %workflows.join(", "),
        schedules.dir = %settings.jobs_dir.display(),
        schedules.count = schedules.len(),
        schedules.names = %names.join(", "),
        "definitions loaded"
    );
}

/// The token encryption key: the configured one (required in live mode, checked with the
/// settings), else the development key with a warning.
fn secret_box(meta: &MetaSettings) -> SecretBox {
    match meta.secret_key.as_deref().and_then(SecretBox::from_hex) {
        Some(secrets) => secrets,
        None => {
            tracing::warn!(
                "BAZAARSTREET_SECRET_KEY is not set: tokens are encrypted with the development \
                 key, which is fine for the sandbox and never for live tokens"
            );
            SecretBox::development()
        }
    }
}

/// Binds a listener; returns it with the port it got (the real one for port 0). `what`
/// and `setting` name it in the error.
async fn bind(
    address: std::net::SocketAddr,
    what: &'static str,
    setting: &'static str,
) -> Result<(tokio::net::TcpListener, u16), StartupError> {
    let failed = |source| StartupError::Listen {
        what,
        setting,
        address: address.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    Ok((listener, port))
}

/// Binds the sandbox's listener; returns it with the port it got.
async fn bind_sandbox(meta: &MetaSettings) -> Result<(TcpAcceptor, u16), StartupError> {
    let (listener, port) = bind(
        meta.sandbox_listen,
        "the Meta sandbox",
        "BAZAARSTREET_META_SANDBOX_LISTEN",
    )
    .await?;
    let acceptor = TcpAcceptor::from_tokio(listener).map_err(|source| StartupError::Listen {
        what: "the Meta sandbox",
        setting: "BAZAARSTREET_META_SANDBOX_LISTEN",
        address: meta.sandbox_listen.to_string(),
        source,
    })?;
    let address = std::net::SocketAddr::new(meta.sandbox_listen.ip(), port);
    tracing::info!(%address, port, "Meta sandbox listening (BAZAARSTREET_META_SANDBOX_LISTEN)");
    Ok((acceptor, port))
}

/// Every handler the product has, for checking definitions without running anything
/// (the domains get a lazy pool and a client that is never called).
pub fn handlers_for_checking(settings: &Settings) -> HandlerRegistry {
    let pool = sqlx::PgPool::connect_lazy(&settings.database_url).unwrap_or_else(|_| {
        sqlx::PgPool::connect_lazy("postgres://localhost/unused").expect("a lazy pool")
    });
    domains::handler_registry(&domains::all(&DomainContext {
        pool,
        graph: GraphClient::new(graph_settings(&settings.meta, None), None),
        secrets: SecretBox::development(),
    }))
}

/// Where Graph calls go: the configured URL, else the sandbox (this process's, or the
/// configured sandbox address for worker-only processes), else Meta.
fn graph_settings(meta: &MetaSettings, sandbox_port: Option<u16>) -> GraphSettings {
    let base_url = match (&meta.graph_url, meta.mode, sandbox_port) {
        (Some(url), _, _) => url.clone(),
        (None, MetaMode::Sandbox, Some(port)) => format!("http://127.0.0.1:{port}"),
        (None, MetaMode::Sandbox, None) => format!("http://{}", meta.sandbox_listen),
        (None, MetaMode::Live, _) => crate::config::meta::META_GRAPH_URL.to_owned(),
    };
    GraphSettings {
        base_url,
        version: meta.graph_version.clone(),
        app_id: meta.app_id.clone(),
        app_secret: meta.app_secret.clone(),
    }
}

/// `<host>-<pid>-<instance>`: unique per process, so a restarted process never inherits
/// (and strands) the jobs its predecessor held; the instance number keeps two
/// applications in one process (tests, embedding) apart too.
fn worker_name_prefix() -> String {
    static INSTANCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let host = hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{instance}", std::process::id())
}
