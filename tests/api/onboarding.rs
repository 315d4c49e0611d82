//! The onboarding workflow end to end, over HTTP, against the service's own Meta sandbox.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn app() -> TestApp {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    spawn_app(&[("onboarding", onboarding.as_str())]).await
}

pub async fn sandbox_post(app: &TestApp, path: &str, body: Value) -> Value {
    let sandbox = app.sandbox_address.as_ref().expect("a sandbox");
    let response = app
        .client
        .post(format!("{sandbox}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Creates a workspace, signs up in the sandbox, starts onboarding; returns
/// (workspace id, run id, signup answer).
pub async fn onboard(app: &TestApp, workspace: &str) -> (String, String, Value) {
    let (status, created) = app
        .post(
            "/v1/workspaces",
            &json!({ "name": "Salon Aurora", "id": workspace }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let signup = sandbox_post(app, "/sandbox/embedded-signup", json!({})).await;
    let run = start(app, workspace, &signup).await;
    (workspace.to_owned(), run, signup)
}

async fn start(app: &TestApp, workspace: &str, signup: &Value) -> String {
    let (status, run) = app
        .post(
            &format!("/v1/workspaces/{workspace}/onboarding"),
            &json!({
                "code": signup["code"], "pin": "123456",
                "waba_id": signup["waba_id"], "phone_number_id": signup["phone_number_id"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    run["id"].as_str().unwrap().to_owned()
}

pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step_id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {run}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn onboarding_connects_a_workspace_end_to_end() {
    let app = app().await;
    let (workspace, run_id, signup) = onboard(&app, "ws_aurora").await;
    let run = app.wait_for_status(&run_id, "succeeded").await;
    let (_, ws) = app.get(&format!("/v1/workspaces/{workspace}")).await;
    assert_eq!(ws["status"], "active", "{ws}");
    assert_eq!(ws["waba_id"], signup["waba_id"]);
    assert_eq!(ws["phone_number_id"], signup["phone_number_id"]);
    // Neither the code, the PIN nor the token appears anywhere a caller can read.
    let (_, audit) = app
        .get(&format!("/v1/audit?subject=run:{run_id}&limit=500"))
        .await;
    let code = signup["code"].as_str().unwrap();
    for text in [run.to_string(), ws.to_string(), audit.to_string()] {
        assert!(!text.contains(code) && !text.contains("123456") && !text.contains("EAAG"));
    }
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("select access_token_sealed from workspaces")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !sealed.windows(4).any(|w| w == b"EAAG"),
        "the token is stored encrypted"
    );
    let kept: i64 = sqlx::query_scalar("select count(*) from onboarding_secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        kept, 0,
        "the code and PIN are deleted once the workspace is active"
    );
    pool.close().await;
    app.stop().await;
}

/// Waits until no onboarding's code or PIN is kept.
async fn until_no_secrets_are_kept(app: &TestApp) {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let kept: i64 = sqlx::query_scalar("select count(*) from onboarding_secrets")
            .fetch_one(&pool)
            .await
            .unwrap();
        if kept == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kept} onboardings' code and PIN are still kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_used_code_fails_the_run_at_once_saying_to_repeat_embedded_signup() {
    let app = app().await;
    let (workspace, first, signup) = onboard(&app, "ws_reuse").await;
    app.wait_for_status(&first, "succeeded").await;
    // The same code again (e.g. a browser retry): Meta says it has been used.
    let second = start(&app, &workspace, &signup).await;
    let run = app.wait_for_status(&second, "failed").await;
    let exchange = step(&run, "exchange_code");
    assert_eq!(
        exchange["attempts"], 1,
        "no retries for a used code: {exchange}"
    );
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("repeat Embedded Signup"),
        "{run}"
    );
    // The failed onboarding reaches no step that deletes its code and PIN: the sweep does.
    until_no_secrets_are_kept(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_error_is_retried_and_onboarding_succeeds() {
    let app = app().await;
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "waba.phone_numbers", "code": 2, "is_transient": true, "http_status": 503 }),
    )
    .await;
    let (_, run_id, _) = onboard(&app, "ws_flaky").await;
    let run = app.wait_for_status(&run_id, "succeeded").await;
    assert_eq!(step(&run, "fetch_phone_numbers")["attempts"], 2, "{run}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_registrations_fail_with_the_72_hour_cool_off() {
    let app = app().await;
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "phone.register", "code": 133016, "message": "(#133016) Account register deregister rate limit exceeded" }),
    )
    .await;
    let (_, run_id, _) = onboard(&app, "ws_blocked").await;
    let run = app.wait_for_status(&run_id, "failed").await;
    assert_eq!(step(&run, "register_phone")["attempts"], 1);
    assert!(run["error"].as_str().unwrap().contains("72 hours"), "{run}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_mid_run_marks_the_workspace_needs_reauth() {
    let app = app().await;
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "waba.subscribe_app", "code": 190, "subcode": 463, "http_status": 401,
                "message": "Error validating access token: Session has expired" }),
    )
    .await;
    let (workspace, run_id, _) = onboard(&app, "ws_expired").await;
    let run = app.wait_for_status(&run_id, "failed").await;
    assert!(
        run["error"].as_str().unwrap().contains("Embedded Signup"),
        "{run}"
    );
    let (_, ws) = app.get(&format!("/v1/workspaces/{workspace}")).await;
    assert_eq!(ws["status"], "needs_reauth", "{ws}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_code_fails_the_run_at_once_saying_to_repeat_embedded_signup() {
    let app = app().await;
    // Meta's answer for a code older than its 30 seconds (the sandbox's own expiry is
    // tested against the client in graph.rs).
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "oauth.exchange_code", "code": 100, "message": "This authorization code has expired." }),
    )
    .await;
    let (workspace, run_id, _) = onboard(&app, "ws_late").await;
    let run = app.wait_for_status(&run_id, "failed").await;
    assert_eq!(step(&run, "exchange_code")["attempts"], 1);
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("has expired") && error.contains("repeat Embedded Signup"),
        "{error}"
    );
    let (_, ws) = app.get(&format!("/v1/workspaces/{workspace}")).await;
    assert_eq!(ws["status"], "onboarding", "nothing was connected: {ws}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_a_workspace_wipes_its_token_and_is_audited() {
    let app = app().await;
    let (workspace, run, _) = onboard(&app, "ws_close").await;
    app.wait_for_status(&run, "succeeded").await;
    let (status, closed) = app
        .delete_as(
            &format!("/v1/workspaces/{workspace}"),
            crate::helpers::TESTER,
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(
        app.delete_as(
            &format!("/v1/workspaces/{workspace}"),
            crate::helpers::TESTER
        )
        .await
        .0,
        409
    );
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("select access_token_sealed from workspaces where id = $1")
            .bind(&workspace)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(sealed.is_none(), "the token is gone");
    let (_, audit) = app.get("/v1/audit?action=workspace.closed").await;
    assert_eq!(
        audit["items"][0]["subject"],
        format!("workspace:{workspace}")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_onboarding_under_way_cannot_reconnect_a_workspace_closed_meanwhile() {
    let app = app().await;
    // The webhook subscription fails once (retried 2 s later), so the run is still under
    // way when the workspace closes.
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "waba.subscribe_app", "code": 2, "is_transient": true }),
    )
    .await;
    let (workspace, run, _) = onboard(&app, "ws_midway").await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let (_, view) = app.get(&format!("/v1/runs/{run}")).await;
        if view["current_step"] == "subscribe_app" && step(&view, "subscribe_app")["attempts"] == 1
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{view}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _) = app
        .delete_as(
            &format!("/v1/workspaces/{workspace}"),
            crate::helpers::TESTER,
        )
        .await;
    assert_eq!(status, 200);
    // Its token, code and PIN went with the close: the retry cannot go on, and nothing
    // the run does makes the workspace active again.
    let view = app.wait_for_status(&run, "failed").await;
    let (_, ws) = app.get(&format!("/v1/workspaces/{workspace}")).await;
    assert_eq!(ws["status"], "closed", "{view}");
    until_no_secrets_are_kept(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_exchanges_the_new_code_even_after_a_failed_first_attempt() {
    let app = app().await;
    let (workspace, first, _) = onboard(&app, "ws_again").await;
    app.wait_for_status(&first, "succeeded").await;
    // Reconnect with a new Embedded Signup; the first exchange attempt fails transiently,
    // so the retry finds the previous connection's token stored and must not take it.
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "oauth.exchange_code", "code": 2, "is_transient": true }),
    )
    .await;
    let signup = sandbox_post(&app, "/sandbox/embedded-signup", json!({})).await;
    let second = start(&app, &workspace, &signup).await;
    let run = app.wait_for_status(&second, "succeeded").await;
    assert_eq!(step(&run, "exchange_code")["attempts"], 2);
    let (_, ws) = app.get(&format!("/v1/workspaces/{workspace}")).await;
    assert_eq!(
        ws["waba_id"], signup["waba_id"],
        "connected to the new WABA: {ws}"
    );
    app.stop().await;
}
