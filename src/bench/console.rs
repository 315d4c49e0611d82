//! (l): the console's pages with `runs` finished runs in the database (each with its
//! steps, attempts, history and ledger entries, made by the engine itself) and approvals
//! waiting in the inbox. Each page is fetched `samples` times, one request at a time, by
//! a signed-in compliance officer (the audit page by an auditor) over loopback HTTP: the
//! time is the server's plus a loopback round trip. Verifying the whole chain is a button
//! on the audit page, not a page load; it is timed beside them.

use std::time::Instant;

use super::server::RunningApi;
use super::{BenchArgs, drain_runs, start_many};
use crate::engine::Engine;
use crate::security::keys::{self, KeyRequest};
use crate::security::secret_box::SecretBox;
use crate::security::{Role, sessions};

/// One page's figures.
pub struct PageTime {
    /// The page's address (with its query).
    pub page: String,
    /// Median and slowest, in ms.
    pub p50: f64,
    /// Slowest of the samples, in ms.
    pub max: f64,
}

/// What (l) measured.
pub struct ConsoleFigures {
    /// Runs in the database when the pages were timed.
    pub runs: i64,
    /// Per page.
    pub pages: Vec<PageTime>,
    /// Verifying the whole ledger once, in ms, and how many entries it checked.
    pub verify: (f64, i64),
}

/// A signed-in console session of a new key with `role`: the cookie value.
async fn session_of(engine: &Engine, role: Role) -> Result<String, Box<dyn std::error::Error>> {
    let request = KeyRequest {
        name: format!("bench-{}-{}", role.as_str(), uuid::Uuid::now_v7().simple()),
        role,
        workspace_id: None,
        person_id: None,
    };
    let (_, token) = keys::create(
        engine.pool(),
        &request,
        keys::Administrator::Operator("bench"),
    )
    .await?;
    let (id, _) = sessions::sign_in(
        engine.pool(),
        &SecretBox::development(),
        &token,
        "127.0.0.1",
    )
    .await?;
    Ok(id)
}

/// Fetches `path` `samples` times with `cookie`; median and slowest in ms.
async fn time_page(
    client: &reqwest::Client,
    address: &str,
    cookie: &str,
    path: &str,
    samples: usize,
) -> Result<PageTime, Box<dyn std::error::Error>> {
    let mut took = Vec::with_capacity(samples);
    for round in 0..samples + 2 {
        let sent = Instant::now();
        let response = client
            .get(format!("{address}{path}"))
            .header("cookie", format!("bzs_console={cookie}"))
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("{path} answered {status}").into());
        }
        // The first two warm the connection and the page's plans.
        if round >= 2 {
            took.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
    }
    took.sort_by(f64::total_cmp);
    // A run's page is named by its route, not its id.
    let page = match path.strip_prefix("/console/runs/") {
        Some(_) => "/console/runs/{id}".to_owned(),
        None => path.to_owned(),
    };
    Ok(PageTime {
        page,
        p50: took[took.len() / 2],
        max: took[took.len() - 1],
    })
}

/// Seeds `runs` one-step runs (drained by the engine's workers) and `waiting` runs at an
/// approval, then times every console page.
pub async fn page_times(
    engine: &Engine,
    args: &BenchArgs,
    runs: usize,
    waiting: usize,
    samples: usize,
) -> Result<ConsoleFigures, Box<dyn std::error::Error>> {
    drain_runs(engine, args, "one_step", runs).await?;
    start_many(engine, "console_gate", waiting).await?;
    // The gate's runs reach their approval with the workers of one more drain.
    drain_runs(engine, args, "one_step", 1).await?;
    sqlx::raw_sql("vacuum analyze")
        .execute(engine.pool())
        .await?;
    let total: i64 = sqlx::query_scalar("select count(*) from runs")
        .fetch_one(engine.pool())
        .await?;
    let officer = session_of(engine, Role::ComplianceOfficer).await?;
    let auditor = session_of(engine, Role::Auditor).await?;
    let run_id: uuid::Uuid = sqlx::query_scalar("select id from runs order by id limit 1")
        .fetch_one(engine.pool())
        .await?;
    let api = RunningApi::start(engine, "bench").await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let officer_pages = [
        "/console/inbox".to_owned(),
        "/console/deadlines".to_owned(),
        "/console/authority-requests".to_owned(),
        "/console/holds".to_owned(),
        "/console/retention".to_owned(),
        "/console/runs".to_owned(),
        "/console/runs?workflow=console_gate".to_owned(),
        "/console/runs?status=waiting".to_owned(),
        format!("/console/runs/{run_id}"),
    ];
    let mut pages = Vec::new();
    for path in &officer_pages {
        pages.push(time_page(&client, &api.address, &officer, path, samples).await?);
    }
    for path in ["/console/audit", "/console/audit?action=run.step_succeeded"] {
        pages.push(time_page(&client, &api.address, &auditor, path, samples).await?);
    }
    let started = Instant::now();
    let verification = crate::security::audit::verify_all(engine.pool()).await?;
    let verify_ms = started.elapsed().as_secs_f64() * 1000.0;
    api.stop().await;
    Ok(ConsoleFigures {
        runs: total,
        pages,
        verify: (verify_ms, verification.checked),
    })
}

/// The definition whose runs wait in the officers' inbox.
pub const GATE: (&str, &str) = (
    "console_gate",
    "name = \"console_gate\"\nversion = 1\n[[steps]]\nid = \"gate\"\nkind = \"approval\"\nroles = [\"compliance_officer\"]\n",
);
