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
    // Until three ticks have run (a deadline, not a fixed window: a loaded machine is slow).
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let count: i64 = sqlx::query_scalar("select count(*) from runs")
            .fetch_one(&pool)
            .await
            .unwrap();
        if count >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "three ticks never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    first.stop_service().await;
    second.stop_service().await;

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
    assert!(ticks.len() >= 3, "expected at least 3 ticks, got {keys:?}");
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
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    // The schedule's row appears when the scheduler looks for missed ticks: from then on
    // it has looked (a fresh schedule has no tick between its first sight and now).
    wait_for(
        &pool,
        "select exists(select 1 from schedules where name = $1)",
        "hourly",
    )
    .await;
    app.stop_service().await;
    let runs = || async {
        sqlx::query_scalar::<_, String>(
            "select idempotency_key from runs where idempotency_key like 'schedule:hourly:%'",
        )
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
    let hour = |at: chrono::DateTime<chrono::Utc>| {
        format!("schedule:hourly:{}", at.format("%Y-%m-%dT%H:00:00+00:00"))
    };
    let started_at = chrono::Utc::now();
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
    // The latest full hour when the scheduler looked: the hour of its start, or the next
    // one if an hour began meanwhile.
    let expected = [hour(started_at), hour(chrono::Utc::now())];
    assert_eq!(
        keys.len(),
        1,
        "only the latest missed tick runs, once: {keys:?}"
    );
    assert!(
        expected.contains(&keys[0]),
        "{keys:?} not one of {expected:?}"
    );

    // Restart with a second schedule listed after `hourly` that has a missed tick of its
    // own: once its run exists, the scheduler has looked at `hourly` too.
    let sentinel = "name = \"zz_sentinel\"\ncron = \"0 * * * *\"\nworkflow = \"tick\"\n";
    sqlx::query(
        "insert into schedules (name, first_seen_at, last_tick_at)
         values ('zz_sentinel', now() - interval '3 hours', now() - interval '3 hours')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut again = spawn_app_on(
        &database_url,
        &[("tick", NOOP)],
        &[("hourly", hourly), ("zz_sentinel", sentinel)],
        Roles::All,
    )
    .await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let sentinel_ran: bool = sqlx::query_scalar(
            "select exists(select 1 from runs where idempotency_key like 'schedule:zz_sentinel:%')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if sentinel_ran {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sentinel never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    again.stop_service().await;
    assert_eq!(
        runs().await.len(),
        1,
        "a restart does not run the same tick again"
    );
    pool.close().await;
    drop_database(&database_url).await;
}

/// Waits until `query` (an `exists` over `$1` = `value`) answers true.
async fn wait_for(pool: &sqlx::PgPool, query: &'static str, value: &str) {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let found: bool = sqlx::query_scalar(query)
            .bind(value)
            .fetch_one(pool)
            .await
            .unwrap();
        if found {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never true: {query} for {value}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
