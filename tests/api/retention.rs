//! Retention: policies (defaults, changes audited with old and new, minimums), the sweep
//! over seeded data in every swept category (what is past retention goes, what is held
//! stays, closed workspaces' shorter durations apply, the preview counts the same), a
//! failing hold check that deletes nothing, and a sweep killed mid-way that resumes and
//! counts each row once.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use bazaarstreet::app::Roles;
use bazaarstreet::security::Role;

use crate::helpers::{
    TestApp, drop_database, fresh_database_url, spawn_app, spawn_app_on, write_files,
};

const SWEEP: &str = include_str!("../../workflows/retention_sweep.toml");

const NOOP: &str = r#"
name = "noop"
version = 1
[[steps]]
id = "a"
kind = "task"
handler = "builtin.noop"
"#;

/// The sweep with one attempt, so a failing step fails the run at once.
fn sweep_once() -> String {
    SWEEP.replace(
        r#"retry = { max_attempts = 5, backoff = "exponential", initial = "30s", max = "30m" }"#,
        "retry = { max_attempts = 1 }",
    )
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap();
}

async fn app_with(sweep: &str) -> (TestApp, PgPool) {
    let app = spawn_app(&[("retention_sweep", sweep), ("noop", NOOP)]).await;
    app.create_workspaces(&["ws_a", "ws_c"]).await;
    app.create_key("lena", Role::ComplianceLead, None).await;
    app.create_key("olga", Role::ComplianceOfficer, None).await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    (app, pool)
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_show_their_defaults_and_each_change_is_audited_with_old_and_new() {
    let (app, pool) = app_with(SWEEP).await;
    let (status, list) = app.get_as("/v1/retention/policies", "olga").await;
    assert_eq!(status, 200, "{list}");
    let policy = |list: &Value, category: &str, status: &str| -> Value {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["category"] == category && p["workspace_status"] == status)
            .cloned()
            .unwrap_or_else(|| panic!("no policy for {category}/{status}"))
    };
    let graph = policy(&list, "graph_call_records", "active");
    assert_eq!(
        (graph["keep_for"].as_str(), graph["source"].as_str()),
        (Some("90d"), Some("default"))
    );
    assert!(!graph["reason"].as_str().unwrap().is_empty());
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["category"] != "audit_events")
    );

    let refused = [
        (
            json!({ "category": "audit_events", "workspace_status": "active", "keep_for": "30d", "reason": "x" }),
            "/policies/0/category",
        ),
        (
            json!({ "category": "graph_call_records", "workspace_status": "active", "keep_for": "1d", "reason": "x" }),
            "/policies/0/keep_for",
        ),
        (
            json!({ "category": "nonsense", "workspace_status": "active", "keep_for": "30d", "reason": "x" }),
            "/policies/0/category",
        ),
    ];
    for (change, pointer) in refused {
        let body = json!({ "policies": [change] });
        let (status, problem) = app.put_as("/v1/retention/policies", &body, "lena").await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    let good = json!({ "policies": [
        { "category": "graph_call_records", "workspace_status": "active", "keep_for": "14d", "reason": "contract" },
        { "category": "run_records", "workspace_status": "closed", "keep_for": null, "reason": "audit pending" },
    ]});
    let (status, _) = app.put_as("/v1/retention/policies", &good, "olga").await;
    assert_eq!(status, 403, "officers do not set retention");
    assert_eq!(
        app.count("select count(*) from retention_policies").await,
        0
    );
    let (status, list) = app.put_as("/v1/retention/policies", &good, "lena").await;
    assert_eq!(status, 200, "{list}");
    let graph = policy(&list, "graph_call_records", "active");
    assert_eq!(
        (graph["keep_for"].as_str(), graph["source"].as_str()),
        (Some("14d"), Some("set"))
    );
    assert_eq!(graph["updated_by"], "lena");
    assert!(policy(&list, "run_records", "closed")["keep_for"].is_null());
    let data: Value = sqlx::query_scalar(
        "select data from audit_ledger where action = 'retention_policy.changed'
         and subject = 'retention_policy:graph_call_records:active'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(data["old"]["keep_seconds"], 90 * 86_400);
    assert_eq!(data["old"]["source"], "default");
    assert_eq!(data["new"]["keep_seconds"], 14 * 86_400);
    app.stop().await;
}

const HELD_CUSTOMER: &str = "491522222222";
const FREE_CUSTOMER: &str = "491511111111";

/// Seeds records in every swept category: for each, some past retention (of an active
/// and a closed workspace), some held, some recent. Returns the holds' ids.
async fn seed(app: &TestApp, pool: &PgPool) -> (String, String) {
    let (status, _) = app
        .delete_as("/v1/workspaces/ws_c", crate::helpers::TESTER)
        .await;
    assert_eq!(status, 200);
    let (_, by_customer) = app
        .post_as(
            "/v1/legal-holds",
            &json!({ "kind": "litigation", "scope": { "customers": [HELD_CUSTOMER] },
                     "reason": "dispute", "matter_ref": "LIT-1" }),
            "olga",
        )
        .await;
    let from = (chrono::Utc::now() - chrono::Duration::days(50)).to_rfc3339();
    let to = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let (_, by_range) = app
        .post_as(
            "/v1/legal-holds",
            &json!({ "kind": "regulatory", "scope": { "workspace_id": "ws_c",
                     "categories": ["graph_call_records"], "from": from, "to": to },
                     "reason": "inquiry", "matter_ref": "REG-7" }),
            "olga",
        )
        .await;
    exec(pool, &format!("
        insert into graph_calls (at, operation, workspace_id, outcome, duration_ms) values
            (now() - interval '100 days', 'op', 'ws_a', 'ok', 1),  -- past 90d: goes
            (now() - interval '40 days', 'op', 'ws_a', 'ok', 1),   -- active, kept
            (now() - interval '40 days', 'op', 'ws_c', 'ok', 1),   -- closed, past 30d, held by range
            (now() - interval '60 days', 'op', 'ws_c', 'ok', 1),   -- closed, outside the range: goes
            (now() - interval '100 days', 'op', null, 'ok', 1);    -- no workspace: goes
        insert into inbound_messages (message_id, workspace_id, from_number, message_type, payload, received_at) values
            ('m1', 'ws_a', '{FREE_CUSTOMER}', 'text', '{{}}', now() - interval '200 days'),
            ('m2', 'ws_a', '{HELD_CUSTOMER}', 'text', '{{}}', now() - interval '200 days'),
            ('m3', 'ws_a', '{FREE_CUSTOMER}', 'text', '{{}}', now() - interval '10 days');
        insert into message_statuses (message_id, workspace_id, recipient_id, status, updated_at) values
            ('s1', 'ws_a', '{FREE_CUSTOMER}', 'read', now() - interval '200 days'),
            ('s2', 'ws_a', '{HELD_CUSTOMER}', 'read', now() - interval '200 days');
        insert into webhook_events (body, body_sha256, received_at, processed_at, workspace_id, customers) values
            ('\\x7b7d', sha256('w1'), now() - interval '40 days', now(), 'ws_a', array['{FREE_CUSTOMER}']),
            ('\\x7b7d', sha256('w2'), now() - interval '40 days', now(), 'ws_a', array['{HELD_CUSTOMER}']),
            ('\\x7b7d', sha256('w3'), now() - interval '1 day', now(), 'ws_a', '{{}}');
    "))
    .await;
    let mut runs = Vec::new();
    for input in [
        json!({ "phone": HELD_CUSTOMER }),
        json!({}),
        json!({ "fresh": true }),
    ] {
        let (status, run) = app
            .post(
                "/v1/runs",
                &json!({ "workflow": "noop", "input": input, "workspace_id": "ws_a" }),
            )
            .await;
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_str().unwrap().to_owned();
        app.wait_for_status(&id, "succeeded").await;
        runs.push(id);
    }
    for old in &runs[..2] {
        sqlx::query(
            "update runs set finished_at = now() - interval '400 days' where id = $1::uuid",
        )
        .bind(old)
        .execute(pool)
        .await
        .unwrap();
    }
    (
        by_customer["id"].as_str().unwrap().to_owned(),
        by_range["id"].as_str().unwrap().to_owned(),
    )
}

/// Per table: (purgeable or deleted, held), from a preview's or a report's items.
fn per_table(items: &Value, done: &str) -> std::collections::BTreeMap<String, (i64, i64)> {
    let mut tables = std::collections::BTreeMap::new();
    for item in items.as_array().unwrap() {
        let entry = tables
            .entry(item["table"].as_str().unwrap().to_owned())
            .or_insert((0, 0));
        entry.0 += item[done].as_i64().unwrap();
        entry.1 += item["held"].as_i64().unwrap();
    }
    tables.retain(|_, (n, held)| *n > 0 || *held > 0);
    tables
}

async fn start_sweep(app: &TestApp, batch: i64) -> String {
    let (status, run) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "retention_sweep", "input": { "batch": batch } }),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    run["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_purges_what_is_past_retention_never_what_is_held_and_matches_its_preview() {
    let (app, pool) = app_with(SWEEP).await;
    let (by_customer, by_range) = seed(&app, &pool).await;
    let expected: std::collections::BTreeMap<String, (i64, i64)> = [
        ("public.graph_calls", (3, 1)),
        ("public.inbound_messages", (1, 1)),
        ("public.message_statuses", (1, 1)),
        ("public.runs", (1, 1)),
        ("public.webhook_events", (1, 1)),
    ]
    .into_iter()
    .map(|(table, counts)| (table.to_owned(), counts))
    .collect();
    let (status, preview) = app
        .post_as("/v1/retention/preview", &json!({}), "olga")
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        per_table(&preview["items"], "purgeable"),
        expected,
        "{preview:#}"
    );
    let before = app.count("select count(*) from graph_calls").await;

    let id = start_sweep(&app, 2).await;
    let run = app.wait_for_status(&id, "succeeded").await;
    let (status, report) = app
        .get_as(&format!("/v1/retention/sweeps/{id}"), "olga")
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        per_table(&report["items"], "deleted"),
        expected,
        "{report:#}"
    );
    assert_eq!(
        (report["deleted"].as_i64(), report["held"].as_i64()),
        (Some(7), Some(5))
    );
    assert_eq!(run["steps"][0]["output"]["totals"]["deleted"], 7);
    let hold_ids: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|line| line["hold_ids"].as_array().unwrap())
        .map(|id| id.as_str().unwrap())
        .collect();
    assert!(hold_ids.contains(&by_customer.as_str()) && hold_ids.contains(&by_range.as_str()));

    // What is held or recent is all still there.
    assert_eq!(
        app.count("select count(*) from graph_calls").await,
        before - 3
    );
    assert_eq!(
        app.count("select count(*) from graph_calls where workspace_id = 'ws_c' and at < now() - interval '35 days'").await,
        1
    );
    assert_eq!(app.count("select count(*) from inbound_messages").await, 2);
    assert_eq!(
        app.count("select count(*) from inbound_messages where message_id = 'm2'")
            .await,
        1
    );
    assert_eq!(app.count("select count(*) from message_statuses").await, 1);
    assert_eq!(app.count("select count(*) from webhook_events").await, 2);
    let held_runs: i64 = sqlx::query_scalar(
        "select count(*) from runs where workflow = 'noop' and input->>'phone' = $1",
    )
    .bind(HELD_CUSTOMER)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(held_runs, 1);
    assert_eq!(
        app.count("select count(*) from runs where workflow = 'noop'")
            .await,
        2
    );
    // Nothing is left to do, and the ledger (which no sweep touches) still verifies.
    let (_, preview) = app
        .post_as("/v1/retention/preview", &json!({}), "olga")
        .await;
    assert_eq!(preview["purgeable"], 0, "{preview:#}");
    assert_eq!(preview["held"], 5);
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'retention.swept'")
            .await,
        1
    );
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_check_that_cannot_be_evaluated_deletes_nothing_and_fails_the_sweep() {
    let (app, pool) = app_with(&sweep_once()).await;
    seed(&app, &pool).await;
    let tables = [
        "graph_calls",
        "inbound_messages",
        "message_statuses",
        "webhook_events",
        "run_steps",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(&pool, table).await);
    }
    // The holds cannot be read: the batch's lock on them and its check both fail.
    exec(
        &pool,
        "alter table legal_holds rename to legal_holds_unavailable",
    )
    .await;
    let id = start_sweep(&app, 2).await;
    let run = app.wait_for_status(&id, "failed").await;
    let error = run["steps"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("legal-hold check could not be evaluated"),
        "{run:#}"
    );
    for (table, before) in tables.iter().zip(before) {
        assert_eq!(count(&pool, table).await, before, "{table}");
    }
    drop(pool);
    app.stop().await;
}

/// Rows of `table` (of runs other than sweeps).
async fn count(pool: &PgPool, table: &str) -> i64 {
    let filter = if table == "run_steps" {
        " where step_id <> 'sweep'"
    } else {
        ""
    };
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from {table}{filter}"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_killed_mid_way_resumes_and_counts_each_row_once() {
    const ROWS: i64 = 30_000;
    let database_url = fresh_database_url();
    let workflows = [("retention_sweep", SWEEP)];
    let dir = write_files(&workflows);
    let mut api = spawn_app_on(&database_url, &workflows, &[], Roles::Api).await;
    let pool = PgPool::connect(&database_url).await.unwrap();
    exec(
        &pool,
        &format!(
            "insert into graph_calls (at, operation, outcome, duration_ms)
         select now() - interval '100 days', 'op', 'ok', 1 from generate_series(1, {ROWS})"
        ),
    )
    .await;
    let mut doomed = crate::crash::process("worker", &database_url, dir.path())
        .spawn()
        .expect("worker starts");
    let id = start_sweep(&api, 200).await;
    let deleted = || async {
        sqlx::query_scalar::<_, Option<i64>>(
            "select sum(deleted)::int8 from retention_sweep_counts where run_id = $1::uuid",
        )
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap()
        .unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while deleted().await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let left = count(&pool, "graph_calls").await;
    assert!(
        left > 0,
        "the sweep was killed mid-way (it had {left} rows left)"
    );
    assert_eq!(
        deleted().await,
        ROWS - left,
        "counted exactly what was deleted"
    );

    let mut rescuer = crate::crash::process("worker", &database_url, dir.path())
        .spawn()
        .expect("worker starts");
    // Not the helpers' patience: a debug build under a loaded machine purges slowly.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let run = loop {
        let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
        if run["status"] == "succeeded" {
            break run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the resumed sweep never finished: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let statuses: Vec<&str> = run["steps"][0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["abandoned", "succeeded"], "{run:#}");
    assert_eq!(count(&pool, "graph_calls").await, 0);
    assert_eq!(deleted().await, ROWS);
    assert_eq!(run["steps"][0]["output"]["totals"]["deleted"], ROWS);
    rescuer.kill().ok();
    rescuer.wait().ok();
    drop(pool);
    api.stop_service().await;
    drop_database(&database_url).await;
}
