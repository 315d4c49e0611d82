//! (k): appointment reminders at scale: appointments across many workspaces whose
//! reminders all fall due inside one window, sent through the Meta sandbox over HTTP by
//! the reminders domain's own workflow and handlers: how many were sent, how many twice
//! (must be none), and the fire skew (actual send minus planned) while the sandbox
//! enforces Meta's per-number limits (80 messages/s, 6 s between two to one customer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::json;
use sqlx::PgPool;

use super::percentiles;
use crate::engine::Engine;
use crate::engine::commands::runs::{IdempotencyKey, StartRun};
use crate::engine::definitions::catalog::Catalog;
use crate::engine::execution::worker::{WorkerSettings, run_workers};
use crate::engine::handlers::HandlerRegistry;
use crate::meta::{GraphClient, GraphSettings};
use crate::sandbox::state::Template;
use crate::sandbox::{Sandbox, SandboxSettings};
use crate::security::secret_box::SecretBox;
use crate::store::ids::WorkspaceId;
use crate::whatsapp::deps::WhatsAppDeps;

/// What (k) measured.
pub struct ReminderFigures {
    /// Reminders planned.
    pub planned: i64,
    /// Sent.
    pub sent: i64,
    /// Messages beyond one per reminder on the customers' phones.
    pub duplicates: i64,
    /// Sends Meta (the sandbox) refused for its rate limits.
    pub rate_limited: i64,
    /// Fire skew p50 / p99 / max, seconds.
    pub skew: (f64, f64, f64),
    /// How long the runs took to start, seconds.
    pub start_seconds: f64,
}

const TEMPLATE: &str = "appointment_reminder";

/// The shipped workflow the measurement runs.
const WORKFLOW: &str = include_str!("../../workflows/appointment_reminder.toml");

async fn serve_sandbox(
    sandbox: Arc<Sandbox>,
) -> Result<(String, tokio::sync::oneshot::Sender<()>), Box<dyn std::error::Error>> {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
        .ok_or("no port")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = futures::FutureExt::shared(Box::pin(async move {
        let _ = stopped.await;
    }));
    tokio::spawn(crate::sandbox::serve(sandbox, acceptor, shutdown));
    Ok((format!("http://127.0.0.1:{port}"), stop))
}

/// Seeds `workspaces` connected businesses (sandbox and database), each with its
/// approved template and `per_workspace` opted-in customers with one appointment whose
/// single reminder (10 minutes before), planned as booking plans it, falls due in
/// `[due_from, due_from + window)`.
async fn seed(
    pool: &PgPool,
    sandbox: &Sandbox,
    workspaces: usize,
    per_workspace: usize,
    due_from: chrono::DateTime<Utc>,
    window: Duration,
) -> Result<Vec<(String, uuid::Uuid)>, Box<dyn std::error::Error>> {
    let secrets = SecretBox::development();
    let policy = json!({
        "offsets_seconds": [600], "template": TEMPLATE, "language": "en_US",
        "quiet_hours": null, "cancellation_template": null,
    });
    let mut appointments = Vec::new();
    for w in 0..workspaces {
        let (business, code) = sandbox.embedded_signup();
        let token = sandbox.exchange(&code)?;
        sandbox.create_template(Template {
            id: String::new(),
            waba_id: business.waba_id.clone(),
            name: TEMPLATE.into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            components: json!([{ "type": "BODY", "text": "Hi {{1}}, see you on {{2}}." }]),
            status: String::new(),
            review_at: std::time::Instant::now(),
            announced: false,
            ttl_seconds: None,
        })?;
        let workspace = format!("ws_bench_{w:03}");
        sqlx::query(
            "insert into workspaces (id, name, status, business_id, waba_id, phone_number_id,
                 display_phone_number, access_token_sealed, created_by)
             values ($1, $1, 'active', $2, $3, $4, $5, $6, 'bench')",
        )
        .bind(&workspace)
        .bind(&business.business_id)
        .bind(&business.waba_id)
        .bind(&business.phone_number_id)
        .bind(&business.display_phone_number)
        .bind(secrets.seal(&token))
        .execute(pool)
        .await?;
        sqlx::query(
            "insert into whatsapp_templates (workspace_id, name, language, category, components, status)
             values ($1, $2, 'en_US', 'UTILITY', $3, 'APPROVED')",
        )
        .bind(&workspace)
        .bind(TEMPLATE)
        .bind(json!([{ "type": "BODY", "text": "Hi {{1}}, see you on {{2}}." }]))
        .execute(pool)
        .await?;
        // Customers, their opt-ins and appointments, in three statements.
        let window_ms = window.as_millis() as i64;
        let rows: Vec<(uuid::Uuid,)> = sqlx::query_as(
            "with c as (
                 insert into customers (id, workspace_id, wa_id, name, timezone, language)
                 select gen_random_uuid(), $1, (49170000000 + $2::bigint * 100000 + i)::text,
                        'Customer ' || i, 'Europe/Berlin', 'en_US'
                 from generate_series(1, $3) i
                 returning id, wa_id
             ), k as (
                 insert into customer_consents (customer_id, workspace_id, kind, at, method, recorded_by, wording)
                 select id, $1, 'opt_in', now(), 'bench', 'bench', 'Yes, remind me' from c
             ),
             a as (
                 insert into appointments (id, workspace_id, customer_id, start_at, duration_seconds,
                     status, policy, created_by)
                 select gen_random_uuid(), $1, c.id,
                        $4::timestamptz + interval '10 minutes' + (random() * $5) * interval '1 millisecond',
                        1800, 'booked', $6, 'bench'
                 from c
                 returning id, start_at
             ), r as (
                 -- Planned at booking, as the booking command plans them.
                 insert into reminders (id, appointment_id, workspace_id, offset_seconds, planned_at,
                     planned_version, state)
                 select gen_random_uuid(), a.id, $1, 600, a.start_at - interval '10 minutes', 1, 'planned'
                 from a
             )
             select id from a",
        )
        .bind(&workspace)
        .bind(w as i64)
        .bind(per_workspace as i64)
        .bind(due_from)
        .bind(window_ms as f64)
        .bind(&policy)
        .fetch_all(pool)
        .await?;
        appointments.extend(rows.into_iter().map(|(id,)| (workspace.clone(), id)));
    }
    Ok(appointments)
}

/// Runs (k) on a fresh engine of its own over `pool`; `workers` are the engine's
/// concurrency, fetchers and batch writers.
pub async fn reminders_at_scale(
    pool: &PgPool,
    workspaces: usize,
    per_workspace: usize,
    window: Duration,
    (concurrency, fetchers, batch_writers): (usize, usize, usize),
) -> Result<ReminderFigures, Box<dyn std::error::Error>> {
    let sandbox = Arc::new(Sandbox::new(SandboxSettings {
        app_id: "1000000000000001".into(),
        app_secret: "sandbox-app-secret".into(),
        code_ttl: Duration::from_secs(600),
        review_delay: Duration::ZERO,
        callback_url: None,
        verify_token: "bench".into(),
    }));
    let (address, stop_sandbox) = serve_sandbox(sandbox.clone()).await?;
    let graph = GraphClient::new(
        GraphSettings {
            base_url: address,
            version: "v25.0".into(),
            app_id: "1000000000000001".into(),
            app_secret: "sandbox-app-secret".into(),
        },
        Some(pool.clone()),
    );
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("appointment_reminder.toml"), WORKFLOW)?;
    let mut handlers = HandlerRegistry::with_builtins();
    crate::reminders::handlers::register(
        &mut handlers,
        WhatsAppDeps {
            pool: pool.clone(),
            graph,
            secrets: SecretBox::development(),
        },
    );
    let catalog = Catalog::load_dir(dir.path(), handlers)?;
    catalog.register(&mut *pool.acquire().await?).await?;
    let engine = Engine::new(pool.clone(), Arc::new(catalog));

    // Every run is started and asleep before the window opens (booking happens days
    // ahead in life): the lead covers seeding and starting them (about 200/s measured on
    // 2 cores, with a margin for slower machines), then all reminders fall due inside the
    // window.
    let total = workspaces * per_workspace;
    let lead = Duration::from_secs(120 + (total / 150) as u64);
    let due_from = Utc::now() + chrono::Duration::from_std(lead)?;
    let appointments = seed(pool, &sandbox, workspaces, per_workspace, due_from, window).await?;
    sqlx::raw_sql("vacuum analyze").execute(pool).await?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = WorkerSettings {
        concurrency,
        fetchers,
        shutdown_grace: Duration::from_secs(5),
        heartbeat: Duration::from_secs(5),
        name_prefix: format!("bench-reminders-{}", std::process::id()),
        batch_writers,
    };
    let shutdown = Box::pin(async move {
        let _ = stopped.await;
    });
    let workers = tokio::spawn(run_workers(engine.clone(), settings, shutdown));
    let started = Instant::now();
    // Until every reminder is decided (sent, or given up), or the window and a margin pass.
    let deadline = started + lead + window + Duration::from_secs(180);
    let engine_ref = &engine;
    futures::stream::iter(appointments)
        .map(|(workspace, id)| async move {
            let workspace = WorkspaceId::parse(&workspace).map_err(|_| "bad workspace id")?;
            let (run, _) = engine_ref
                .start_run(StartRun {
                    workflow: crate::reminders::WORKFLOW.to_owned(),
                    input: json!({ "appointment_id": id }),
                    workspace_id: Some(workspace),
                    idempotency_key: Some(IdempotencyKey::service(format!("appointment:{id}"))),
                    initiator: "bench".into(),
                })
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query("update appointments set run_id = $2 where id = $1")
                .bind(id)
                .bind(run.id.uuid())
                .execute(engine_ref.pool())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let start_seconds = started.elapsed().as_secs_f64();

    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from reminders where state in ('planned', 'sending')",
        )
        .fetch_one(pool)
        .await?;
        let planned: i64 = sqlx::query_scalar("select count(*) from reminders")
            .fetch_one(pool)
            .await?;
        if (open == 0 && planned as usize == total) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let _ = stop.send(());
    let _ = workers.await;
    let _ = stop_sandbox.send(());

    let planned: i64 = sqlx::query_scalar("select count(*) from reminders")
        .fetch_one(pool)
        .await?;
    let sent: i64 = sqlx::query_scalar("select count(*) from reminders where state = 'sent'")
        .fetch_one(pool)
        .await?;
    let wa_ids: Vec<String> = sqlx::query_scalar("select wa_id from customers")
        .fetch_all(pool)
        .await?;
    let on_phones: i64 = wa_ids
        .iter()
        .map(|wa_id| sandbox.handset(wa_id).len() as i64)
        .sum();
    let rate_limited: i64 =
        sqlx::query_scalar("select count(*) from graph_calls where error_code in (130429, 131056)")
            .fetch_one(pool)
            .await?;
    let skews: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from sent_at - planned_at)::float8 from reminders where state = 'sent'",
    )
    .fetch_all(pool)
    .await?;
    let max = skews.iter().copied().fold(0.0, f64::max);
    let (p50, p99) = if skews.is_empty() {
        (0.0, 0.0)
    } else {
        percentiles(skews)
    };
    Ok(ReminderFigures {
        planned,
        sent,
        duplicates: (on_phones - sent).max(0),
        rate_limited,
        skew: (p50, p99, max),
        start_seconds,
    })
}
