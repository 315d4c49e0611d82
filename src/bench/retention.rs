//! (j): the retention sweep over millions of expired rows across the high-volume
//! categories while signed webhooks keep arriving at a steady rate: rows purged per second,
//! and the webhook acknowledgement p99 during the sweep against the same rate without one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::percentiles;
use super::server::RunningApi;
use super::webhooks::{SECRET, post_status};
use crate::engine::Engine;
use crate::lifecycle::purge::{self, PurgeSettings};
use crate::lifecycle::retention;

/// What (j) measured.
pub struct SweepFigures {
    /// Rows seeded (and expected purged).
    pub seeded: i64,
    /// Rows the sweep deleted.
    pub deleted: i64,
    /// Rows purged per second.
    pub per_second: f64,
    /// Webhook ack p50 / p99 without a sweep, ms.
    pub quiet: (f64, f64),
    /// Webhook ack p50 / p99 during the sweep, ms.
    pub during: (f64, f64),
}

/// The share of the seeded rows per table: the high-volume categories.
const SHARES: [(&str, f64); 4] = [
    ("graph_calls", 0.4),
    ("webhook_events", 0.3),
    ("message_statuses", 0.2),
    ("inbound_messages", 0.1),
];

async fn seed(pool: &PgPool, rows: i64) -> Result<i64, sqlx::Error> {
    let count = |share: f64| (rows as f64 * share) as i64;
    let statements = [
        format!(
            "insert into graph_calls (at, operation, workspace_id, outcome, duration_ms)
             select now() - interval '400 days', 'bench', null, 'ok', 1
             from generate_series(1, {})",
            count(SHARES[0].1)
        ),
        format!(
            "insert into webhook_events (body, body_sha256, received_at, processed_at, customers)
             select '\\x7b7d', sha256(('old' || i)::bytea), now() - interval '400 days',
                    now() - interval '400 days', array['4915100' || i]
             from generate_series(1, {}) i",
            count(SHARES[1].1)
        ),
        format!(
            "insert into message_statuses (message_id, status, recipient_id, updated_at)
             select 'old.' || i, 'read', '4915100' || i, now() - interval '400 days'
             from generate_series(1, {}) i",
            count(SHARES[2].1)
        ),
        format!(
            "insert into inbound_messages (message_id, from_number, message_type, payload, received_at)
             select 'old.' || i, '4915100' || i, 'text', '{{}}', now() - interval '400 days'
             from generate_series(1, {}) i",
            count(SHARES[3].1)
        ),
    ];
    let mut seeded = 0;
    for statement in statements {
        seeded += sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await?
            .rows_affected();
    }
    // Setup, not workload: the seeding's dirty pages are written out before measuring,
    // so neither measurement pays for the seeding's checkpoint.
    sqlx::raw_sql("vacuum analyze").execute(pool).await?;
    sqlx::raw_sql("checkpoint").execute(pool).await?;
    Ok(i64::try_from(seeded).unwrap_or(i64::MAX))
}

/// Posts signed status deliveries at `rate` per second until `stop`; the ack latencies.
async fn steady_webhooks(
    url: String,
    rate: u32,
    offset: usize,
    stop: Arc<AtomicBool>,
) -> Result<Vec<f64>, String> {
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = offset;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        n += 1;
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move { post_status(&client, &url, &format!("wamid.sweep.{n}")).await });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.push(done.map_err(|e| e.to_string())??);
    }
    Ok(latencies)
}

/// Seeds `rows` expired rows, measures webhook acks at `rate` for `quiet_for` without a
/// sweep, then sweeps everything under the same webhook rate.
pub async fn sweep_under_load(
    engine: &Engine,
    rows: i64,
    rate: u32,
    settings: &PurgeSettings,
    quiet_for: Duration,
) -> Result<SweepFigures, Box<dyn std::error::Error>> {
    let pool = engine.pool();
    let seeded = seed(pool, rows).await?;
    let api = RunningApi::start(engine, SECRET).await?;
    let url = format!("{}/webhooks/whatsapp", api.address);

    let stop = Arc::new(AtomicBool::new(false));
    let quiet = tokio::spawn(steady_webhooks(url.clone(), rate, 0, stop.clone()));
    tokio::time::sleep(quiet_for).await;
    stop.store(true, Ordering::Relaxed);
    let quiet = percentiles(quiet.await??);

    let stop = Arc::new(AtomicBool::new(false));
    let during = tokio::spawn(steady_webhooks(url, rate, 10_000_000, stop.clone()));
    let policies = retention::policies(pool).await?;
    let run_id = uuid::Uuid::now_v7();
    let started = Instant::now();
    let mut deleted = 0;
    for plan in purge::plans(&policies) {
        deleted += purge::purge(pool, run_id, &plan, settings).await?;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = percentiles(during.await??);
    api.stop().await;
    Ok(SweepFigures {
        seeded,
        deleted,
        per_second: deleted as f64 / elapsed.as_secs_f64(),
        quiet,
        during,
    })
}
