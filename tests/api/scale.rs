//! Several engine instances on one database.

use bazaarstreet::app::Roles;
use bazaarstreet::engine::commands::StartRun;
use serde_json::json;

use crate::helpers::{PATIENCE, drop_database, fresh_database_url, spawn_app_on};

const THREE_STEPS: &str = r#"
name = "three_steps"
version = 1
[[steps]]
id = "one"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "two"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "three"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn two_engine_instances_execute_every_step_of_500_runs_exactly_once() {
    let database_url = fresh_database_url();
    let mut first = spawn_app_on(
        &database_url,
        &[("three_steps", THREE_STEPS)],
        &[],
        Roles::All,
    )
    .await;
    let mut second = spawn_app_on(
        &database_url,
        &[("three_steps", THREE_STEPS)],
        &[],
        Roles::All,
    )
    .await;
    let engine = first.engine.clone();
    let starts = (0..500).map(|i| {
        let engine = engine.clone();
        async move {
            engine
                .start_run(StartRun {
                    workflow: "three_steps".into(),
                    input: json!({ "n": i }),
                    workspace_id: None,
                    idempotency_key: None,
                    initiator: "test".into(),
                })
                .await
                .unwrap()
        }
    });
    use futures::StreamExt;
    futures::stream::iter(starts)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;

    let pool = engine.pool().clone();
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        let succeeded: i64 =
            sqlx::query_scalar("select count(*) from runs where status = 'succeeded'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if succeeded == 500 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {succeeded} of 500 runs finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let attempts: i64 = sqlx::query_scalar("select count(*) from step_attempts")
        .fetch_one(&pool)
        .await
        .unwrap();
    let repeated: i64 = sqlx::query_scalar(
        "select count(*) from (select run_id, seq from step_attempts group by 1, 2 having count(*) > 1) r",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let failed_attempts: i64 =
        sqlx::query_scalar("select count(*) from step_attempts where status <> 'succeeded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // A worker is named `<host>-<pid>-<instance>-<fetcher>-<restarts>` or
    // `<host>-<pid>-<instance>-eager`: one process has several, so count instances.
    let instances: Vec<String> = sqlx::query_scalar(
        "select distinct regexp_replace(worker, '-(eager|[0-9]+-[0-9]+)$', '') from step_attempts",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(attempts, 1500, "every step of every run ran");
    assert_eq!(repeated, 0, "no step ran twice");
    assert_eq!(failed_attempts, 0);
    assert_eq!(
        instances.len(),
        2,
        "both instances took work: {instances:?}"
    );
    first.stop_service().await;
    second.stop_service().await;
    drop_database(&database_url).await;
}
