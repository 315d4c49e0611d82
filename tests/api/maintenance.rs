//! Housekeeping: finished job rows are pruned; a run whose job apalis gave up on is
//! given a new one and finishes; a run a live worker continues inline is left alone.

use std::time::Duration;

use bazaarstreet::app::Roles;
use serde_json::json;

use crate::helpers::{attempts, fresh_database_url, spawn_app, spawn_app_on};

const ONE_TASK: &str = r#"
name = "one_task"
version = 1
[[steps]]
id = "only"
kind = "task"
handler = "builtin.noop"
"#;

async fn scalar(pool: &sqlx::PgPool, query: &'static str) -> i64 {
    sqlx::query_scalar(query).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_job_rows_older_than_the_retention_are_pruned() {
    // API only: no worker touches the jobs.
    let url = fresh_database_url();
    let app = spawn_app_on(&url, &[("one_task", ONE_TASK)], &[], Roles::Api).await;
    for _ in 0..3 {
        app.start("one_task", json!({})).await;
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "update apalis.jobs set status = 'Done', done_at = now() - interval '2 hours'
         where id in (select id from apalis.jobs order by id limit 2)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let pruned = app
        .engine
        .prune_jobs(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    assert_eq!(scalar(&pool, "select count(*) from apalis.jobs").await, 1);
    assert_eq!(
        app.engine
            .prune_jobs(Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "a pending job is never pruned"
    );
    pool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_job_apalis_gave_up_on_is_rescued_and_finishes() {
    let url = fresh_database_url();
    let mut api = spawn_app_on(&url, &[("one_task", ONE_TASK)], &[], Roles::Api).await;
    let id = api.start("one_task", json!({})).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // What is left after apalis's last infrastructure retry failed, a while ago.
    sqlx::raw_sql(
        "update apalis.jobs set status = 'Failed', attempts = max_attempts;
         update runs set updated_at = now() - interval '10 minutes';",
    )
    .execute(&pool)
    .await
    .unwrap();
    let rescued = api
        .engine
        .rescue_stranded(Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].run_id.to_string(), id);
    assert!(
        api.engine
            .rescue_stranded(Duration::from_secs(300))
            .await
            .unwrap()
            .is_empty(),
        "a run with a live job is not rescued twice"
    );

    let worker = spawn_app_on(&url, &[("one_task", ONE_TASK)], &[], Roles::Worker).await;
    let run = api.wait_for_status(&id, "succeeded").await;
    let kinds: Vec<&str> = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"run_rescued"), "{kinds:?}");
    pool.close().await;
    let mut worker = worker;
    worker.stop_service().await;
    api.stop_service().await;
    api.stop().await;
}

const QUICK_THEN_SLOW: &str = r#"
name = "quick_then_slow"
version = 1
[[steps]]
id = "quick"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "slow"
kind = "task"
handler = "builtin.sleep"
params = { duration = "2s" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_continued_inline_by_a_live_worker_is_not_taken_for_stranded() {
    let app = spawn_app(&[("quick_then_slow", QUICK_THEN_SLOW)]).await;
    let id = app.start("quick_then_slow", json!({})).await;
    app.wait_for_run(&id, "the slow step running", |run| {
        run["steps"][1]["attempt_log"][0]["status"] == "running"
    })
    .await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    // Its only job is the one that started the run, of an older generation, still running.
    sqlx::query("update runs set updated_at = now() - interval '10 minutes' where id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let rescued = app
        .engine
        .rescue_stranded(Duration::from_secs(300))
        .await
        .unwrap();
    assert!(rescued.is_empty(), "rescued a live chain: {rescued:?}");
    let run = app.wait_for_status(&id, "succeeded").await;
    assert_eq!(
        attempts(&run),
        [
            ("quick".to_owned(), 1, "succeeded".to_owned()),
            ("slow".to_owned(), 1, "succeeded".to_owned())
        ]
    );
    pool.close().await;
    app.stop().await;
}
