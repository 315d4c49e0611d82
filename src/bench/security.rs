//! Security measurements: audit-ledger appends under concurrent writers (chain verified
//! afterwards), and the latency of an authenticated `GET /v1/runs/{id}` at a fixed rate.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;

use super::percentiles;
use super::server::RunningApi;
use crate::engine::Engine;
use crate::security::Role;
use crate::security::audit::{self, AuditEntry};
use crate::security::keys::{self, KeyRequest};

/// What (f) measured.
pub struct AppendFigures {
    /// Entries per second, from the first append until the last is chained.
    pub per_second: f64,
    /// Whether verifying the whole chain afterwards found it intact.
    pub intact: bool,
}

/// (f): `writers` tasks each append `per_writer` entries, each append its own committed
/// statement, while a chainer links them; then the whole chain is verified.
pub async fn audit_appends(
    pool: &PgPool,
    writers: usize,
    per_writer: usize,
) -> Result<AppendFigures, Box<dyn std::error::Error>> {
    audit::chain_pending(pool).await?;
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let chainer = tokio::spawn(audit::run_chainer(pool.clone(), async move {
        let _ = stopped.await;
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let pool = pool.clone();
        tasks.spawn(async move {
            for n in 0..per_writer {
                let entry = AuditEntry::now(
                    "bench",
                    "bench.append",
                    format!("bench:{writer}"),
                    None,
                    json!({ "writer": writer, "n": n }),
                );
                let mut conn = pool.acquire().await?;
                audit::append(&mut conn, &[entry]).await?;
            }
            Ok::<(), sqlx::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let _ = stop.send(());
    chainer.await?;
    audit::chain_pending(pool).await?;
    let elapsed = started.elapsed();
    let mut conn = pool.acquire().await?;
    let verification = audit::verify(&mut conn).await?;
    Ok(AppendFigures {
        per_second: (writers * per_writer) as f64 / elapsed.as_secs_f64(),
        intact: verification.first_broken.is_none(),
    })
}

/// (g): serves the API on a free port and sends `rate` authenticated
/// `GET /v1/runs/{id}` per second for `seconds`, open loop (each request leaves on its
/// tick whether or not earlier ones have answered). Returns p50 and p99 in ms.
pub async fn authenticated_get(
    engine: &Engine,
    run_id: uuid::Uuid,
    rate: u32,
    seconds: u32,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let request = KeyRequest {
        name: format!("bench-reader-{}", uuid::Uuid::now_v7().simple()),
        role: Role::Auditor,
        workspace_id: None,
        person_id: None,
    };
    let (_, token) = keys::create(
        engine.pool(),
        &request,
        keys::Administrator::Operator("bench"),
    )
    .await?;
    let api = RunningApi::start(engine, "bench").await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("{}/v1/runs/{run_id}", api.address);
    // Warm the connection pool and the server.
    for _ in 0..50 {
        client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..rate * seconds {
        ticker.tick().await;
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        requests.spawn(async move {
            let sent = Instant::now();
            let response = client.get(&url).bearer_auth(&token).send().await?;
            let status = response.status();
            response.bytes().await?;
            if !status.is_success() {
                return Err(format!("GET answered {status}").into());
            }
            Ok::<f64, Box<dyn std::error::Error + Send + Sync>>(
                sent.elapsed().as_secs_f64() * 1000.0,
            )
        });
    }
    let mut latencies = Vec::with_capacity(requests.len());
    while let Some(done) = requests.join_next().await {
        latencies.push(done?.map_err(|error| error.to_string())?);
    }
    api.stop().await;
    Ok(percentiles(latencies))
}
