//! Recurring schedules: one run per tick across replicas, missed ticks run once.

use bazaarstreet::app::Roles;

use crate::helpers::{drop_database, fresh_database_url, spawn_app_on};

const NOOP: &str = "name = \"tick\"\nversion = 1\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_on_two_instances_starts_one_run_per_tick() {
    let every_second = "name = \"every_second\"\ncron = \"* * * * * *\"\ntimezone = \"Europe/Berlin\"\nworkflow = \"tick\"\ninput = { source = \"cron\" }\n";
    let database_url = fresh_database_url();
    let mut first = spawn_app_on(
        &database_url,
        &[("tick", NOOP)],
        &[("every_second", every_second)],
        Roles::All,
    )
    .await;
    let mut second = spawn_app_on(
        &database_url,
        &[("tick", NOOP)],
        &[("every_second", every_second)],
        Roles::All,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    first.stop_service().await;
    second.stop_service().await;

    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let keys: Vec<String> =
        sqlx::query_scalar("select idempotency_key from runs order by idempotency_key")
            .fetch_all(&pool)
            .await
            .unwrap();
    let ticks: Vec<chrono::DateTime<chrono::FixedOffset>> = keys
        .iter()
        .map(|key| {
            chrono::DateTime::parse_from_rfc3339(key.trim_start_matches("schedule:every_second:"))
                .unwrap()
        })
        .collect();
    assert!(
        ticks.len() >= 3,
        "expected at least 3 ticks in 4.5 s, got {keys:?}"
    );
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "one run per tick, none missing: {keys:?}"
        );
    }
    let inputs: Vec<serde_json::Value> = sqlx::query_scalar("select input from runs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(inputs.iter().all(|input| input["source"] == "cron"));
    pool.close().await;
    drop_database(&database_url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_missed_while_every_replica_was_down_runs_once_on_start() {
    let hourly = "name = \"hourly\"\ncron = \"0 * * * *\"\nworkflow = \"tick\"\n";
    let database_url = fresh_database_url();
    let mut app = spawn_app_on(
        &database_url,
        &[("tick", NOOP)],
        &[("hourly", hourly)],
        Roles::All,
    )
    .await;
    app.stop_service().await;
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let runs = || async {
        sqlx::query_scalar::<_, String>("select idempotency_key from runs")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    assert_eq!(
        runs().await.len(),
        0,
        "a fresh schedule does not run ticks from before it existed"
    );

    // Pretend every replica has been down for three hours. (Upsert: the first service may
    // have stopped before its scheduler registered the schedule.)
    sqlx::query(
        "insert into schedules (name, first_seen_at, last_tick_at)
         values ('hourly', now() - interval '3 hours', now() - interval '3 hours')
         on conflict (name) do update
         set first_seen_at = excluded.first_seen_at, last_tick_at = excluded.last_tick_at",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut app = spawn_app_on(
        &database_url,
        &[("tick", NOOP)],
        &[("hourly", hourly)],
        Roles::All,
    )
    .await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while runs().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the missed tick never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop_service().await;
    let keys = runs().await;
    let latest_hour = chrono::Utc::now()
        .format("%Y-%m-%dT%H:00:00+00:00")
        .to_string();
    assert_eq!(
        keys,
        [format!("schedule:hourly:{latest_hour}")],
        "only the latest missed tick runs, once"
    );

    let mut again = spawn_app_on(
        &database_url,
        &[("tick", NOOP)],
        &[("hourly", hourly)],
        Roles::All,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    again.stop_service().await;
    assert_eq!(
        runs().await.len(),
        1,
        "a restart does not run the same tick again"
    );
    pool.close().await;
    drop_database(&database_url).await;
}
