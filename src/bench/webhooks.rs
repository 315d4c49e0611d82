//! (h): signed webhook deliveries accepted and persisted per second, and the latency of
//! the acknowledgement, with concurrent senders (as Meta delivers in parallel).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::json;

use super::percentiles;
use super::server::RunningApi;
use crate::engine::Engine;
use crate::meta::signature::sign;

/// What (h) measured.
pub struct WebhookFigures {
    /// Deliveries acknowledged per second.
    pub per_second: f64,
    /// Acknowledgement latency p50, ms.
    pub p50: f64,
    /// Acknowledgement latency p99, ms.
    pub p99: f64,
    /// Rows stored (must equal the deliveries sent).
    pub stored: i64,
}

/// The app secret the bench's API checks webhook signatures with.
pub(super) const SECRET: &str = "bench-app-secret";

/// Posts one signed delivery of a status of message `id`; the acknowledgement's latency
/// in ms.
pub(super) async fn post_status(
    client: &reqwest::Client,
    url: &str,
    id: &str,
) -> Result<f64, String> {
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "bench-waba",
        "changes": [{ "field": "messages", "value": {
            "metadata": { "phone_number_id": "bench-phone" },
            "statuses": [{ "id": id, "status": "delivered",
                           "timestamp": "1750030073", "recipient_id": "16505551234" }] } }] }] })
    .to_string();
    let signature = sign(SECRET, body.as_bytes());
    let sent = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("delivery answered {}", response.status()));
    }
    response.bytes().await.map_err(|e| e.to_string())?;
    Ok(sent.elapsed().as_secs_f64() * 1000.0)
}

/// Sends `total` distinct signed status deliveries from `senders` concurrent senders.
pub async fn signed_posts(
    engine: &Engine,
    senders: usize,
    total: usize,
) -> Result<WebhookFigures, Box<dyn std::error::Error>> {
    let api = RunningApi::start(engine, SECRET).await?;
    let url = format!("{}/webhooks/whatsapp", api.address);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(senders * 2)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, String>(latencies);
                }
                latencies.push(post_status(&client, &url, &format!("wamid.bench.{n}")).await?);
            }
        });
    }
    let mut latencies = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed();
    api.stop().await;
    let stored: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(engine.pool())
        .await?;
    let (p50, p99) = percentiles(latencies);
    Ok(WebhookFigures {
        per_second: total as f64 / elapsed.as_secs_f64(),
        p50,
        p99,
        stored,
    })
}
