//! `bazaarstreet bench`: throughput and latency against one scratch database, in one
//! invocation. Figures and their interpretation are kept in docs/BENCHMARKS.md.
//!
//! (a) raw apalis-postgres drain of no-op jobs (the baseline), (b) 1-step runs/s,
//! (c) 5-step runs in steps/s, (d) idle start -> first step latency, (e) approval
//! decision -> next step running, (f) audit-ledger appends under concurrent writers,
//! (g) authenticated `GET /v1/runs/{id}` latency at a fixed rate, (h) signed webhook
//! deliveries accepted and persisted per second with their acknowledgement latency, (i) the
//! takeover of a run whose worker process was killed mid-step, (j) the retention sweep under
//! webhook load, (k) appointment reminders at scale through the sandbox. Engine
//! latencies are what a caller waits: from its request to the step's handler being called
//! (bench/latency.rs).

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::config::Settings;
use crate::db;
use crate::engine::definitions::catalog::Catalog;
use crate::engine::handlers::HandlerRegistry;
use crate::engine::{Engine, RunStatus};

/// Benchmark options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Jobs for the baseline and runs for the 1-step measurement (5-step uses a fifth).
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Samples for each latency measurement.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Steps executed at once by the engine's workers.
    #[arg(long, default_value_t = 800)]
    pub concurrency: usize,
    /// apalis workers sharing the concurrency, each fetching its share at a time.
    #[arg(long, default_value_t = 2)]
    pub fetchers: usize,
    /// Group-commit writers for claims, and as many for completions.
    #[arg(long, default_value_t = 4)]
    pub batch_writers: usize,
    /// Concurrent audit-ledger writers.
    #[arg(long, default_value_t = 8)]
    pub audit_writers: usize,
    /// Audit entries appended in all.
    #[arg(long, default_value_t = 20_000)]
    pub audit_entries: usize,
    /// Authenticated GETs per second.
    #[arg(long, default_value_t = 1_000)]
    pub get_rate: u32,
    /// Seconds the GET load lasts.
    #[arg(long, default_value_t = 5)]
    pub get_seconds: u32,
    /// Concurrent webhook senders.
    #[arg(long, default_value_t = 50)]
    pub webhook_senders: usize,
    /// Webhook deliveries in all.
    #[arg(long, default_value_t = 20_000)]
    pub webhook_posts: usize,
    /// Expired rows the retention sweep purges in (j).
    #[arg(long, default_value_t = 5_000_000)]
    pub sweep_rows: i64,
    /// Signed webhook deliveries per second while (j) sweeps.
    #[arg(long, default_value_t = 200)]
    pub sweep_webhook_rate: u32,
    /// Rows per purge batch in (j).
    #[arg(long, default_value_t = 5_000)]
    pub sweep_batch: i64,
    /// The purge's rest after each batch in (j), as a multiple of the batch's duration.
    #[arg(long, default_value_t = 3.0)]
    pub sweep_rest: f64,
    /// Appointments in (k), spread over the workspaces.
    #[arg(long, default_value_t = 100_000)]
    pub reminder_appointments: usize,
    /// Workspaces (business numbers) in (k).
    #[arg(long, default_value_t = 200)]
    pub reminder_workspaces: usize,
    /// Seconds within which all of (k)'s reminders fall due.
    #[arg(long, default_value_t = 600)]
    pub reminder_window: u64,
    /// Finished runs in the database while (l) times the console's pages.
    #[arg(long, default_value_t = 100_000)]
    pub console_runs: usize,
    /// Only these measurements, by letter (e.g. `bc`); all when absent.
    #[arg(long)]
    pub only: Option<String>,
}

impl BenchArgs {
    fn wants(&self, measurement: char) -> bool {
        self.only
            .as_deref()
            .is_none_or(|only| only.contains(measurement))
    }
}

mod console;
mod drain;
mod latency;
mod reminders;
mod retention;
mod security;
mod server;
mod takeover;
mod webhooks;

use drain::{
    baseline_drain, drain_runs, start_many, start_workers, start_workers_beating, wait_for_run,
};
use latency::{Marks, decision_latency, percentiles, start_latency, start_request};

const BASELINE_QUEUE: &str = "bench.noop";

const DEFINITIONS: [(&str, &str); 6] = [
    takeover::SLOW_STEP,
    console::GATE,
    (
        "one_step",
        "name = \"one_step\"\nversion = 1\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n",
    ),
    (
        "five_steps",
        "name = \"five_steps\"\nversion = 1\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"b\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"c\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"d\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"e\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n",
    ),
    (
        "marked",
        "name = \"marked\"\nversion = 1\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"bench.mark\"\n",
    ),
    (
        "gated",
        "name = \"gated\"\nversion = 1\n[[steps]]\nid = \"gate\"\nkind = \"approval\"\nroles = [\"compliance_officer\"]\n[[steps]]\nid = \"next\"\nkind = \"task\"\nhandler = \"bench.mark\"\n",
    ),
];

/// Runs every measurement and prints a table.
pub async fn run(settings: Settings, args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let url = scratch_database_url(&settings.database_url);
    reset_database(&url).await?;
    let pool = db::connect(&url, 40).await?;
    db::migrate(&pool).await?;
    let dir = tempfile::tempdir()?;
    for (name, text) in DEFINITIONS {
        std::fs::write(dir.path().join(format!("{name}.toml")), text)?;
    }
    let marks = Marks::default();
    let mut handlers = HandlerRegistry::with_builtins();
    marks.register(&mut handlers);
    let catalog = Catalog::load_dir(dir.path(), handlers)?;
    catalog.register(&mut *pool.acquire().await?).await?;
    let engine = Engine::new(pool.clone(), Arc::new(catalog));

    println!(
        "bazaarstreet bench: {} jobs/runs, {} latency samples, concurrency {}",
        args.count, args.samples, args.concurrency
    );
    let mut baseline = None;
    if args.wants('a') {
        let jobs = baseline_drain(&pool, args.count).await?;
        row(
            "(a) apalis-postgres drain, no-op jobs",
            &format!("{jobs:.0} jobs/s"),
            "1.00",
        );
        baseline = Some(jobs);
    }
    let ratio = |figure: f64| baseline.map(|jobs| format!("{:.2}", figure / jobs));
    if args.wants('b') {
        let one = drain_runs(&engine, &args, "one_step", args.count).await?;
        let ratio = ratio(one).unwrap_or_default();
        row("(b) 1-step runs", &format!("{one:.0} runs/s"), &ratio);
    }
    if args.wants('c') {
        let five_runs = (args.count / 5).max(1);
        let five = drain_runs(&engine, &args, "five_steps", five_runs).await? * 5.0;
        let ratio = ratio(five).unwrap_or_default();
        row("(c) 5-step runs", &format!("{five:.0} steps/s"), &ratio);
    }

    // The drains above leave work for autovacuum, which would otherwise share the cores
    // with the idle-latency samples below; do it now.
    sqlx::raw_sql("vacuum analyze").execute(&pool).await?;
    let workers = start_workers(&engine, &args);
    if args.wants('d') {
        let (p50, p99) = start_latency(&engine, &marks, "marked", args.samples).await?;
        row(
            "(d) idle start -> first step running",
            &format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
            "",
        );
    }
    if args.wants('e') {
        let (p50, p99) = decision_latency(&engine, &marks, "gated", args.samples).await?;
        row(
            "(e) decision -> next step running",
            &format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
            "",
        );
    }
    let (sample_run, _) = engine.start_run(start_request("one_step", 0)).await?;
    wait_for_run(engine.pool(), sample_run.id.uuid(), RunStatus::Succeeded).await?;
    workers.stop().await;

    if args.wants('f') {
        let writers = args.audit_writers.max(1);
        let per_writer = (args.audit_entries / writers).max(1);
        let appends = security::audit_appends(&pool, writers, per_writer).await?;
        row(
            &format!("(f) audit appends, {writers} writers"),
            &format!(
                "{:.0} entries/s, chain {}",
                appends.per_second,
                if appends.intact { "intact" } else { "BROKEN" }
            ),
            "",
        );
    }
    if args.wants('g') {
        let (p50, p99) = security::authenticated_get(
            &engine,
            sample_run.id.uuid(),
            args.get_rate,
            args.get_seconds,
        )
        .await?;
        row(
            &format!("(g) GET /v1/runs/{{id}} at {}/s", args.get_rate),
            &format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
            "",
        );
    }
    if args.wants('h') {
        let senders = args.webhook_senders.max(1);
        let hooks = webhooks::signed_posts(&engine, senders, args.webhook_posts).await?;
        row(
            &format!("(h) signed webhooks, {senders} senders"),
            &format!(
                "{:.0} posts/s, ack p50 {:.1} ms, p99 {:.1} ms, {} stored",
                hooks.per_second, hooks.p50, hooks.p99, hooks.stored
            ),
            "",
        );
    }
    if args.wants('i') {
        let mut rescuers = None;
        let took = takeover::killed_worker_takeover(&engine, &url, || {
            rescuers = Some(start_workers_beating(&engine, &args, takeover::heartbeat()));
            std::future::ready(())
        })
        .await?;
        if let Some(workers) = rescuers {
            workers.stop().await;
        }
        row(
            "(i) killed worker -> run finished elsewhere",
            &format!(
                "{:.1} s (heartbeat {} ms, the default; step 2 s)",
                took.as_secs_f64(),
                takeover::heartbeat().as_millis()
            ),
            "",
        );
    }
    if args.wants('j') {
        let figures = retention::sweep_under_load(
            &engine,
            args.sweep_rows,
            args.sweep_webhook_rate,
            &crate::lifecycle::purge::PurgeSettings {
                batch: args.sweep_batch,
                rest: args.sweep_rest,
                ..Default::default()
            },
            Duration::from_secs(30),
        )
        .await?;
        row(
            &format!(
                "(j) retention sweep, {} expired rows, batch {} rest {}",
                figures.seeded, args.sweep_batch, args.sweep_rest
            ),
            &format!(
                "{:.0} rows/s ({} deleted); webhook ack at {}/s p50 {:.1} / p99 {:.1} ms during, p50 {:.1} / p99 {:.1} ms without",
                figures.per_second,
                figures.deleted,
                args.sweep_webhook_rate,
                figures.during.0,
                figures.during.1,
                figures.quiet.0,
                figures.quiet.1
            ),
            "",
        );
    }
    if args.wants('k') {
        let workspaces = args.reminder_workspaces.max(1);
        let figures = reminders::reminders_at_scale(
            &pool,
            workspaces,
            (args.reminder_appointments / workspaces).max(1),
            Duration::from_secs(args.reminder_window),
            (args.concurrency, args.fetchers, args.batch_writers),
        )
        .await?;
        row(
            &format!(
                "(k) reminders, {} appointments, {workspaces} numbers, due within {} s",
                figures.planned, args.reminder_window
            ),
            &format!(
                "{} sent, {} duplicates, skew p50 {:.2} / p99 {:.2} / max {:.2} s, {} rate-limit refusals, runs started in {:.0} s",
                figures.sent,
                figures.duplicates,
                figures.skew.0,
                figures.skew.1,
                figures.skew.2,
                figures.rate_limited,
                figures.start_seconds
            ),
            "",
        );
    }
    if args.wants('l') {
        let figures = console::page_times(&engine, &args, args.console_runs, 200, 20).await?;
        for page in &figures.pages {
            row(
                &format!("(l) console {}", page.page),
                &format!("p50 {:.1} ms, max {:.1} ms", page.p50, page.max),
                "",
            );
        }
        row(
            &format!("(l) console, {} runs: verify the chain", figures.runs),
            &format!(
                "{:.0} ms for {} entries (a button, not a page)",
                figures.verify.0, figures.verify.1
            ),
            "",
        );
    }
    pool.close().await;
    Ok(())
}

fn row(name: &str, figure: &str, ratio: &str) {
    println!("{name:<42} {figure:<32} {ratio}");
}

/// The configured URL with `_bench` appended to the database name; its parameters (say,
/// `sslmode`) are kept.
fn scratch_database_url(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((server, rest)) => match rest.split_once('?') {
            Some((name, query)) => format!("{server}/{name}_bench?{query}"),
            None => format!("{server}/{rest}_bench"),
        },
        None => format!("{url}/bazaarstreet_bench"),
    }
}

async fn reset_database(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let options = db::connect_options(url)?;
    let name = options
        .get_database()
        .ok_or("database url without a name")?
        .to_owned();
    let admin = PgPool::connect_with(options.database("postgres")).await?;
    let drop = format!(
        "drop database if exists \"{}\" with (force)",
        name.replace('"', "\"\"")
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
        .execute(&admin)
        .await?;
    admin.close().await;
    db::ensure_database(url).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::scratch_database_url;

    #[test]
    fn the_scratch_database_keeps_the_server_and_the_parameters() {
        assert_eq!(
            scratch_database_url("postgres://u@h:5432/app?sslmode=disable"),
            "postgres://u@h:5432/app_bench?sslmode=disable"
        );
        assert_eq!(
            scratch_database_url("postgres://u@h/app"),
            "postgres://u@h/app_bench"
        );
    }
}
