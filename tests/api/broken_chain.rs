//! A chain of steps continued inline whose completion the database refuses: the step the
//! chain had reached is picked up again through the queue, whether the chain started from
//! a fetched job or from a hand-off, instead of staying `running` with nothing running it.

use serde_json::json;

use bazaarstreet::app::Roles;

use crate::fixtures::THREE_TASKS;
use crate::helpers::{TestApp, attempts, drop_database, fresh_database_url, spawn_app_on};

/// Makes the database refuse the first two writes that record step `b` as succeeded. A
/// sequence counts them: its counter survives the refused transaction's rollback.
async fn refuse_first_completions_of_b(database_url: &str) {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    sqlx::raw_sql(
        "create sequence refusals;
         create function refuse_b() returns trigger language plpgsql as $$
         begin
             if nextval('refusals') <= 2 then
                 raise exception 'refused by the test';
             end if;
             return new;
         end $$;
         create trigger refuse_b before update on run_steps for each row
             when (new.step_id = 'b' and new.status = 'succeeded')
             execute function refuse_b();",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// Starts a run through `api`, waits for it to succeed and checks how `b` got there.
async fn the_refused_step_runs_again_and_the_run_succeeds(api: &TestApp) {
    refuse_first_completions_of_b(&api.database_url).await;
    let id = api.start("three_tasks", json!({})).await;
    let run = api.wait_for_status(&id, "succeeded").await;
    let b: Vec<String> = attempts(&run)
        .into_iter()
        .filter(|(step, _, _)| step == "b")
        .map(|(_, _, status)| status)
        .collect();
    assert!(b.len() >= 2, "{run:#}");
    assert_eq!(b.last().map(String::as_str), Some("succeeded"), "{run:#}");
    assert!(
        b[..b.len() - 1].iter().all(|status| status == "abandoned"),
        "the attempts whose end was refused are abandoned: {b:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_from_a_fetched_job_is_picked_up_after_the_database_refused_a_step() {
    let database_url = fresh_database_url();
    let workflows = [("three_tasks", THREE_TASKS)];
    let mut api = spawn_app_on(&database_url, &workflows, &[], Roles::Api).await;
    let mut workers = spawn_app_on(&database_url, &workflows, &[], Roles::Worker).await;
    the_refused_step_runs_again_and_the_run_succeeds(&api).await;
    workers.stop_service().await;
    api.stop_service().await;
    drop_database(&database_url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handed_off_chain_is_picked_up_after_the_database_refused_a_step() {
    let app = spawn_app_on(
        &fresh_database_url(),
        &[("three_tasks", THREE_TASKS)],
        &[],
        Roles::All,
    )
    .await;
    the_refused_step_runs_again_and_the_run_succeeds(&app).await;
    app.stop().await;
}
