//! Appointment reminders against the Meta sandbox over real HTTP: a reminder sent once
//! with its delivery followed; bad bookings refused naming the field, storing nothing; a
//! reschedule before and after the first reminder (the same run, nothing sent twice); a
//! cancel with its cancellation message; an opt-out stopping the next reminder; a reminder
//! moved too late skipped with its reason; a template paused by Meta pausing its reminders;
//! a template TTL that outlives the shortest offset warned about.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PATIENCE, TESTER, TestApp, spawn_app};
use crate::onboarding::{onboard, sandbox_post};
use crate::privacy_requests::handset;

const REMINDER: &str = include_str!("../../workflows/appointment_reminder.toml");
const CUSTOMER: &str = "491577700031";

/// An app with workspace `ws_r` connected through the sandbox, templates
/// `appointment_reminder` and `appointment_cancelled` approved, and customer [`CUSTOMER`]
/// opted in; answers the customer's id.
async fn ready() -> (TestApp, PgPool, String) {
    let (onboarding, approval) = workflows();
    let app = spawn_app(&[
        ("onboarding", onboarding.as_str()),
        ("template_approval", approval.as_str()),
        ("appointment_reminder", REMINDER),
    ])
    .await;
    prepare(app).await
}

fn workflows() -> (String, String) {
    (
        std::fs::read_to_string("workflows/onboarding.toml").unwrap(),
        std::fs::read_to_string("workflows/template_approval.toml").unwrap(),
    )
}

/// Connects `ws_r`, approves its templates and registers [`CUSTOMER`], opted in.
async fn prepare(app: TestApp) -> (TestApp, PgPool, String) {
    let (_, run, _) = onboard(&app, "ws_r").await;
    app.wait_for_status(&run, "succeeded").await;
    // The reminder's template gives up on an unreachable phone after 30 s (Meta's
    // minimum), as a business would set it well before its shortest offset.
    for (name, text, ttl) in [
        (
            "appointment_reminder",
            "Hi {{1}}, see you on {{2}}.",
            Some(30),
        ),
        (
            "appointment_cancelled",
            "Hi {{1}}, your appointment on {{2}} is cancelled.",
            None,
        ),
    ] {
        let mut template = json!({ "name": name, "language": "en_US", "category": "UTILITY",
                                   "components": [{ "type": "BODY", "text": text }],
                                   "examples": ["Ana", "Tue 9 Jun, 10:00"] });
        if let Some(seconds) = ttl {
            template["message_send_ttl_seconds"] = json!(seconds);
        }
        let (status, created) = app.post("/v1/workspaces/ws_r/templates", &template).await;
        assert_eq!(status, 201, "{created}");
        app.wait_for_status(created["run_id"].as_str().unwrap(), "succeeded")
            .await;
    }
    let customer = register(&app, CUSTOMER, true).await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    (app, pool, customer)
}

async fn register(app: &TestApp, wa_id: &str, opted_in: bool) -> String {
    let mut body =
        json!({ "phone": format!("+{wa_id}"), "name": "Ilse", "timezone": "Europe/Berlin" });
    if opted_in {
        body["opt_in"] = json!({ "method": "web_form",
            "wording": "Yes, send me appointment reminders on WhatsApp" });
    }
    let (status, customer) = app.post("/v1/workspaces/ws_r/customers", &body).await;
    assert_eq!(status, 201, "{customer}");
    customer["id"].as_str().unwrap().to_owned()
}

/// Books an appointment starting in `start_in` seconds with `offsets`, no quiet hours.
async fn book(app: &TestApp, start_in: i64, offsets: &[&str], extra: Value) -> Value {
    let mut reminders = json!({ "offsets": offsets, "no_quiet_hours": true });
    if let (Value::Object(reminders), Value::Object(extra)) = (&mut reminders, extra) {
        reminders.extend(extra);
    }
    let (status, booked) = app
        .post(
            "/v1/workspaces/ws_r/appointments",
            &json!({ "customer": { "wa_id": CUSTOMER },
                     "start_at": Utc::now() + chrono::Duration::seconds(start_in),
                     "duration": "45m", "reminders": reminders }),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    booked
}

/// Waits until `check` holds for the appointment; answers it.
async fn wait_for(app: &TestApp, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE + Duration::from_secs(60);
    wait_for_by(app, id, what, deadline, check).await
}

/// Waits until `check` holds for the appointment, at most until `deadline`; answers it.
async fn wait_for_by(
    app: &TestApp,
    id: &str,
    what: &str,
    deadline: tokio::time::Instant,
    check: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let (status, appointment) = app
            .get(&format!("/v1/workspaces/ws_r/appointments/{id}"))
            .await;
        assert_eq!(status, 200, "{appointment}");
        if check(&appointment) {
            return appointment;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "appointment {id} never {what}: {appointment:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn reminder(appointment: &Value, index: usize) -> &Value {
    &appointment["reminders"][index]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_goes_out_once_with_its_callback_data_and_its_delivery_is_followed() {
    let (app, _pool, _) = ready().await;
    let booked = book(&app, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap();
    assert_eq!(reminder(&booked, 0)["state"], "planned");
    let delivered = wait_for(&app, id, "had its reminder delivered", |a| {
        matches!(
            reminder(a, 0)["delivery"].as_str(),
            Some("delivered" | "read")
        )
    })
    .await;
    let sent = reminder(&delivered, 0);
    assert_eq!(sent["state"], "sent");
    let planned: chrono::DateTime<Utc> =
        serde_json::from_value(sent["planned_at"].clone()).unwrap();
    let at: chrono::DateTime<Utc> = serde_json::from_value(sent["sent_at"].clone()).unwrap();
    assert!(at >= planned, "sent {at}, planned {planned}");
    let messages = handset(&app, CUSTOMER).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["template"], "appointment_reminder");
    assert_eq!(messages[0]["parameters"][0], "Ilse");
    assert_eq!(messages[0]["id"], sent["message_id"]);
    // The run stays until the start, then ends.
    let run = delivered["run_id"].as_str().unwrap();
    let (_, state) = app.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(state["current_step"], "sleep", "{state}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_to_an_unreachable_phone_is_dropped_after_its_templates_ttl_never_late() {
    let (app, _pool, _) = ready().await;
    sandbox_post(
        &app,
        &format!("/sandbox/handsets/{CUSTOMER}/connectivity"),
        json!({ "online": false }),
    )
    .await;
    let booked = book(&app, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap();
    let sent = wait_for(&app, id, "sent its reminder", |a| {
        reminder(a, 0)["state"] == "sent"
    })
    .await;
    assert_ne!(
        reminder(&sent, 0)["delivery"],
        "dropped",
        "not before its TTL"
    );
    let dropped = wait_for(&app, id, "had its reminder dropped", |a| {
        reminder(a, 0)["delivery"] == "dropped"
    })
    .await;
    // Dropped before the appointment: the phone coming back gets nothing late.
    let start: chrono::DateTime<Utc> = serde_json::from_value(dropped["start_at"].clone()).unwrap();
    assert!(Utc::now() < start, "dropped only after the start");
    sandbox_post(
        &app,
        &format!("/sandbox/handsets/{CUSTOMER}/connectivity"),
        json!({ "online": true }),
    )
    .await;
    assert!(handset(&app, CUSTOMER).await.is_empty());
}

/// Sets `ws_r`'s reminder policy; answers it.
async fn set_policy(app: &TestApp, body: Value) -> Value {
    let (status, policy) = app
        .put_as("/v1/workspaces/ws_r/reminder-policy", &body, TESTER)
        .await;
    assert_eq!(status, 200, "{policy}");
    policy
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_ttl_longer_than_the_shortest_offset_is_warned_about_at_booking_and_in_the_policy()
 {
    let (app, _pool, _) = ready().await;
    // `appointment_reminder` gives up after 30 s: a 1-minute reminder expires in time.
    let in_time = book(&app, 3600, &["1m"], json!({})).await;
    assert!(in_time["warnings"].is_null(), "{in_time}");
    // `appointment_cancelled` sets no TTL: Meta keeps trying for 30 days.
    let late = book(
        &app,
        3600,
        &["30m", "2m"],
        json!({ "template": "appointment_cancelled" }),
    )
    .await;
    let warning = late["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("appointment_cancelled") && warning.ends_with("at most 120"),
        "{late}"
    );
    assert_eq!(late["status"], "booked", "a warning, not a refusal");
    let policy = set_policy(
        &app,
        json!({ "offsets": ["1h"], "template": "appointment_cancelled" }),
    )
    .await;
    assert!(
        policy["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .ends_with("at most 3600"),
        "{policy}"
    );
    let (_, read) = app.get("/v1/workspaces/ws_r/reminder-policy").await;
    assert_eq!(read["warnings"], policy["warnings"]);
    let policy = set_policy(&app, json!({ "template": "appointment_reminder" })).await;
    assert!(policy["warnings"].is_null(), "{policy}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bookings_are_refused_naming_the_field_and_store_nothing() {
    let (app, _pool, _) = ready().await;
    let silent = register(&app, "491577700032", false).await;
    let (status, problem) = app
        .post(
            "/v1/workspaces/ws_r/customers",
            &json!({ "name": "No number", "timezone": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["pointer"].as_str()),
        (422, Some("/wa_id")),
        "{problem}"
    );
    let (status, problem) = app
        .post(
            "/v1/workspaces/ws_r/customers",
            &json!({ "wa_id": "491577700039", "timezone": "Mars/Olympus_Mons" }),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["pointer"].as_str()),
        (422, Some("/timezone")),
        "{problem}"
    );
    let soon = |seconds: i64| Utc::now() + chrono::Duration::seconds(seconds);
    let cases = [
        (
            json!({ "customer": { "wa_id": CUSTOMER }, "start_at": soon(-60), "duration": "30m" }),
            "/start_at",
        ),
        (
            json!({ "customer": { "wa_id": CUSTOMER }, "start_at": soon(600), "duration": "30m",
                 "reminders": { "offsets": ["1h"] } }),
            "/reminders/offsets/0",
        ),
        (
            json!({ "customer": { "wa_id": CUSTOMER }, "start_at": soon(90_000), "duration": "30m",
                 "reminders": { "template": "no_such_template" } }),
            "/reminders/template",
        ),
        (
            json!({ "customer": {}, "start_at": soon(90_000), "duration": "30m" }),
            "/customer",
        ),
        (
            json!({ "customer": { "id": silent }, "start_at": soon(90_000), "duration": "30m" }),
            "/customer",
        ),
        (
            json!({ "customer": { "wa_id": CUSTOMER }, "start_at": soon(90_000), "duration": "forever" }),
            "/duration",
        ),
    ];
    for (body, pointer) in cases {
        let (status, problem) = app.post("/v1/workspaces/ws_r/appointments", &body).await;
        assert_eq!(status, 422, "{pointer}: {problem}");
        let pointers: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(pointers.contains(&pointer), "{pointer}: {problem}");
    }
    assert_eq!(app.count("select count(*) from appointments").await, 0);
    assert_eq!(app.count("select count(*) from reminders").await, 0);
    // Another workspace's key sees none of it.
    app.create_workspaces(&["ws_other"]).await;
    app.create_key(
        "other",
        bazaarstreet::security::Role::Integrator,
        Some("ws_other"),
    )
    .await;
    let (status, _) = app.get_as("/v1/workspaces/ws_r/customers", "other").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reschedule_plans_again_in_the_same_run_and_nothing_is_sent_twice() {
    let (app, _pool, _) = ready().await;
    let booked = book(&app, 85, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let run = booked["run_id"].as_str().unwrap().to_owned();
    let first_plan = reminder(&booked, 0)["planned_at"].clone();
    // Before it went out: moved later, planned again.
    let later = Utc::now() + chrono::Duration::seconds(400);
    let (status, moved) = app
        .patch_as(
            &format!("/v1/workspaces/ws_r/appointments/{id}"),
            &json!({ "start_at": later }),
            "tester",
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_ne!(reminder(&moved, 0)["planned_at"], first_plan);
    assert_eq!(moved["version"], 2);
    // Moved back close: it goes out, once.
    let close = Utc::now() + chrono::Duration::seconds(70);
    let (status, _) = app
        .patch_as(
            &format!("/v1/workspaces/ws_r/appointments/{id}"),
            &json!({ "start_at": close }),
            "tester",
        )
        .await;
    assert_eq!(status, 200);
    wait_for(&app, &id, "sent its reminder", |a| {
        reminder(a, 0)["state"] == "sent"
    })
    .await;
    // After it went out: moved again, the sent reminder is not sent again.
    let (status, after) = app
        .patch_as(
            &format!("/v1/workspaces/ws_r/appointments/{id}"),
            &json!({ "start_at": Utc::now() + chrono::Duration::seconds(500) }),
            "tester",
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(reminder(&after, 0)["state"], "sent");
    assert_eq!(after["run_id"], run.as_str(), "the same run");
    // Planned again and asleep until the new start: nothing more went out.
    app.wait_at_step(&run, "sleep").await;
    assert_eq!(handset(&app, CUSTOMER).await.len(), 1);
    assert_eq!(
        app.count("select count(*) from runs where workflow = 'appointment_reminder'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_stops_the_reminders_and_sends_the_cancellation_once() {
    let (app, _pool, _) = ready().await;
    let booked = book(
        &app,
        4_000,
        &["30m", "10m"],
        json!({ "cancellation_template": "appointment_cancelled" }),
    )
    .await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let (status, cancelled) = app
        .post(
            &format!("/v1/workspaces/ws_r/appointments/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    for index in 0..2 {
        assert_eq!(
            reminder(&cancelled, index)["state"],
            "cancelled",
            "{cancelled}"
        );
    }
    let run = booked["run_id"].as_str().unwrap();
    app.wait_for_status(run, "succeeded").await;
    let messages = handset(&app, CUSTOMER).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["template"], "appointment_cancelled");
    let (status, again) = app
        .post(
            &format!("/v1/workspaces/ws_r/appointments/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opt_out_stops_the_next_reminder() {
    let (app, _pool, customer) = ready().await;
    let booked = book(&app, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let (status, out) = app
        .post(
            &format!("/v1/workspaces/ws_r/customers/{customer}/consent"),
            &json!({ "kind": "opt_out", "method": "phone_call" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["consent"], "opt_out");
    let skipped = wait_for(&app, &id, "skipped its reminder", |a| {
        reminder(a, 0)["state"] == "skipped"
    })
    .await;
    assert_eq!(reminder(&skipped, 0)["reason"], "opted_out");
    assert!(handset(&app, CUSTOMER).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_moved_too_late_is_skipped_with_its_reason() {
    let (app, _pool, _) = ready().await;
    let booked = book(&app, 4_000, &["30m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let (status, moved) = app
        .patch_as(
            &format!("/v1/workspaces/ws_r/appointments/{id}"),
            &json!({ "start_at": Utc::now() + chrono::Duration::seconds(600) }),
            "tester",
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let first = reminder(&moved, 0);
    assert_eq!(first["state"], "skipped", "{moved}");
    assert!(
        first["reason"].as_str().unwrap().starts_with("too_late"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_paused_by_meta_pauses_its_reminders() {
    let (app, pool, _) = ready().await;
    let booked = book(&app, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    sqlx::query(
        "update whatsapp_templates set status = 'PAUSED' where name = 'appointment_reminder'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let paused = wait_for(&app, &id, "paused its reminder", |a| {
        reminder(a, 0)["state"] == "paused"
    })
    .await;
    assert_eq!(reminder(&paused, 0)["reason"], "template_paused");
    assert!(handset(&app, CUSTOMER).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_replies_confirm_or_cancel_and_a_stop_reply_opts_out() {
    let (app, pool, customer) = ready().await;
    let phone: String =
        sqlx::query_scalar("select phone_number_id from workspaces where id = 'ws_r'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let booked = book(&app, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let sent = wait_for(&app, &id, "sent its reminder", |a| {
        reminder(a, 0)["state"] == "sent"
    })
    .await;
    let message = reminder(&sent, 0)["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A tap on an unrelated message changes nothing; on the reminder, it confirms.
    sandbox_post(
        &app,
        "/sandbox/inbound",
        json!({ "phone_number_id": phone, "from": CUSTOMER, "text": "Cancel",
                "button_payload": "cancel", "context_id": "wamid.SOMETHING_ELSE" }),
    )
    .await;
    sandbox_post(
        &app,
        "/sandbox/inbound",
        json!({ "phone_number_id": phone, "from": CUSTOMER, "text": "Confirm",
                "button_payload": "appt:confirm", "context_id": message }),
    )
    .await;
    let confirmed = wait_for(&app, &id, "was confirmed", |a| !a["confirmed_at"].is_null()).await;
    assert_eq!(confirmed["status"], "booked");
    // Cancel by quick reply.
    sandbox_post(
        &app,
        "/sandbox/inbound",
        json!({ "phone_number_id": phone, "from": CUSTOMER, "text": "Cancel",
                "button_payload": "cancel", "context_id": message }),
    )
    .await;
    wait_for(&app, &id, "was cancelled", |a| a["status"] == "cancelled").await;
    // STOP: opted out, by the service, as a keyword.
    sandbox_post(
        &app,
        "/sandbox/inbound",
        json!({ "phone_number_id": phone, "from": CUSTOMER, "text": " Stop " }),
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, seen) = app
            .get(&format!("/v1/workspaces/ws_r/customers/{customer}"))
            .await;
        if seen["consent"] == "opt_out" {
            let last = seen["consents"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(
                (last["method"].as_str(), last["recorded_by"].as_str()),
                (Some("keyword"), Some("reminders"))
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never opted out: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_after_the_send_before_recording_it_never_sends_twice() {
    use bazaarstreet::app::Roles;

    use crate::helpers::{drop_database, fresh_database_url, spawn_app_on, write_files};
    let database_url = fresh_database_url();
    let (onboarding, approval) = workflows();
    let files = [
        ("onboarding", onboarding.as_str()),
        ("template_approval", approval.as_str()),
        ("appointment_reminder", REMINDER),
    ];
    let dir = write_files(&files);
    let api = spawn_app_on(&database_url, &files, &[], Roles::Api).await;
    let sandbox = api
        .sandbox_address
        .clone()
        .expect("the API serves the sandbox");
    let worker = || {
        crate::crash::process("worker", &database_url, dir.path())
            .env("BAZAARSTREET_META_GRAPH_URL", &sandbox)
            .spawn()
            .expect("worker starts")
    };
    let mut doomed = worker();
    let (mut api, pool, _) = prepare(api).await;
    // The message goes out; Meta's answer comes 8 s late.
    sandbox_post(
        &api,
        "/sandbox/faults",
        json!({ "operation": "message.sent", "delay_ms": 8000 }),
    )
    .await;
    let booked = book(&api, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    wait_for(&api, &id, "began sending", |a| {
        reminder(a, 0)["state"] == "sending"
    })
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while handset(&api, CUSTOMER).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message never reached the phone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let mut rescuer = worker();
    let sent = wait_for(&api, &id, "was reconciled", |a| {
        reminder(a, 0)["state"] == "sent"
    })
    .await;
    let messages = handset(&api, CUSTOMER).await;
    assert_eq!(messages.len(), 1, "sent once: {messages:?}");
    assert_eq!(reminder(&sent, 0)["message_id"], messages[0]["id"]);
    rescuer.kill().ok();
    rescuer.wait().ok();
    drop(pool);
    api.stop_service().await;
    drop_database(&database_url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metas_refusals_are_handled_by_code() {
    let (app, pool, _) = ready().await;
    let booking = |wa_id: &'static str| {
        let app = &app;
        async move {
            register(app, wa_id, true).await;
            let (status, booked) = app
                .post(
                    "/v1/workspaces/ws_r/appointments",
                    &json!({ "customer": { "wa_id": wa_id },
                             "start_at": Utc::now() + chrono::Duration::seconds(70),
                             "duration": "30m",
                             "reminders": { "offsets": ["1m"], "no_quiet_hours": true } }),
                )
                .await;
            assert_eq!(status, 201, "{booked}");
            booked["id"].as_str().unwrap().to_owned()
        }
    };
    let arm = |code: i64| {
        let app = &app;
        async move {
            sandbox_post(
                app,
                "/sandbox/faults",
                json!({ "operation": "message.send", "code": code }),
            )
            .await;
        }
    };
    // 131026: the number cannot receive; the customer is marked undeliverable.
    arm(131026).await;
    let id = booking("491577700041").await;
    let failed = wait_for(&app, &id, "failed", |a| reminder(a, 0)["state"] == "failed").await;
    assert!(
        reminder(&failed, 0)["reason"]
            .as_str()
            .unwrap()
            .contains("131026")
    );
    let undeliverable: bool = sqlx::query_scalar(
        "select undeliverable_at is not null from customers where wa_id = '491577700041'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(undeliverable);
    // 130429: rate limited; backed off and sent on a later attempt.
    arm(130429).await;
    let id = booking("491577700042").await;
    wait_for(&app, &id, "sent after backing off", |a| {
        reminder(a, 0)["state"] == "sent"
    })
    .await;
    // 132015: the template is paused; its reminders pause.
    arm(132015).await;
    let id = booking("491577700043").await;
    let paused = wait_for(&app, &id, "paused", |a| reminder(a, 0)["state"] == "paused").await;
    assert!(
        reminder(&paused, 0)["reason"]
            .as_str()
            .unwrap()
            .contains("132015")
    );
    // The pause shows on the workspace's template before Meta's webhook, once in the ledger.
    let (_, listed) = app.get("/v1/workspaces/ws_r/templates").await;
    let template = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "appointment_reminder")
        .unwrap()
        .clone();
    assert_eq!(template["status"], "PAUSED", "{template}");
    assert!(template["reason"].as_str().unwrap().contains("132015"));
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'reminders.template_refused'")
            .await,
        1
    );
    // Meta approves it again (its status webhook): reminders can be booked and sent again.
    sandbox_post(
        &app,
        "/sandbox/template-status",
        json!({ "template_id": template["meta_template_id"], "status": "APPROVED" }),
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app
        .get(&format!("/v1/workspaces/ws_r/templates/{}", template["id"]))
        .await
        .1["status"]
        != "APPROVED"
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never approved again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 190: the token is gone; the workspace needs its owner to connect again.
    arm(190).await;
    let id = booking("491577700044").await;
    wait_for(&app, &id, "failed", |a| reminder(a, 0)["state"] == "failed").await;
    let (_, workspace) = app.get("/v1/workspaces/ws_r").await;
    assert_eq!(workspace["status"], "needs_reauth", "{workspace}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminders_delivery_moves_forward_when_statuses_come_twice_and_out_of_order() {
    let (app, pool, _) = ready().await;
    // `read` before `sent`/`delivered`, and the first delivery posted twice.
    for fault in ["webhook.status.reorder", "webhook.status.duplicate"] {
        sandbox_post(&app, "/sandbox/faults", json!({ "operation": fault })).await;
    }
    let booked = book(&app, 75, &["1m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let read = wait_for(&app, &id, "was read", |a| {
        reminder(a, 0)["delivery"] == "read"
    })
    .await;
    assert_eq!(reminder(&read, 0)["state"], "sent");
    // Once both deliveries (the read, then the earlier statuses) are processed, it is still
    // read; the duplicate of the earlier one is the same body, stored once.
    let message = reminder(&read, 0)["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let processed: i64 = sqlx::query_scalar(
            "select count(*) from webhook_events
             where processed_at is not null and strpos(convert_from(body, 'UTF8'), $1) > 0",
        )
        .bind(&message)
        .fetch_one(&pool)
        .await
        .unwrap();
        if processed >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{processed} deliveries processed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, later) = app
        .get(&format!("/v1/workspaces/ws_r/appointments/{id}"))
        .await;
    assert_eq!(reminder(&later, 0)["delivery"], "read", "{later}");
    assert_eq!(handset(&app, CUSTOMER).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn erasing_a_customer_removes_their_consent_appointments_and_reminders() {
    use bazaarstreet::lifecycle::erasure::{self, Subject};
    let (app, pool, customer) = ready().await;
    let booked = book(&app, 4_000, &["30m"], json!({})).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/v1/workspaces/ws_r/appointments/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    app.wait_for_status(booked["run_id"].as_str().unwrap(), "succeeded")
        .await;
    let subject = Subject::Customer {
        workspace_id: Some("ws_r".into()),
        wa_id: CUSTOMER.into(),
    };
    let receipts = erasure::erase(&pool, &subject, None, "ana", &Default::default())
        .await
        .unwrap();
    let deleted = |table: &str| {
        receipts
            .iter()
            .find(|r| r.table == table)
            .map(|r| r.rows)
            .unwrap_or_default()
    };
    assert_eq!(deleted("public.reminders"), 1, "{receipts:?}");
    assert_eq!(deleted("public.appointments"), 1);
    assert_eq!(deleted("public.customer_consents"), 1);
    assert_eq!(deleted("public.customers"), 1);
    let (status, _) = app
        .get(&format!("/v1/workspaces/ws_r/customers/{customer}"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_paused_by_a_template_refusal_go_out_at_their_time_if_it_is_approved_again() {
    let (app, _pool, _) = ready().await;
    let first = book(&app, 70, &["1m"], json!({})).await;
    let later_customer = "491577700051";
    register(&app, later_customer, true).await;
    let (status, later) = app
        .post(
            "/v1/workspaces/ws_r/appointments",
            &json!({ "customer": { "wa_id": later_customer },
                     "start_at": Utc::now() + chrono::Duration::seconds(150),
                     "duration": "30m",
                     "reminders": { "offsets": ["1m"], "no_quiet_hours": true } }),
        )
        .await;
    assert_eq!(status, 201, "{later}");
    sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "message.send", "code": 132015 }),
    )
    .await;
    // Meta refuses the first send: the later reminder of the same template is paused too.
    let first_id = first["id"].as_str().unwrap();
    wait_for(&app, first_id, "paused", |a| {
        reminder(a, 0)["state"] == "paused"
    })
    .await;
    let later_id = later["id"].as_str().unwrap();
    let (_, held) = app
        .get(&format!("/v1/workspaces/ws_r/appointments/{later_id}"))
        .await;
    assert_eq!(reminder(&held, 0)["state"], "paused", "{held}");
    // Meta approves the template again before the later reminder's time: it goes out then.
    let (_, listed) = app.get("/v1/workspaces/ws_r/templates").await;
    let template = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "appointment_reminder")
        .unwrap()
        .clone();
    sandbox_post(
        &app,
        "/sandbox/template-status",
        json!({ "template_id": template["meta_template_id"], "status": "APPROVED" }),
    )
    .await;
    // The patience counts from its time (a busy machine may reach it late).
    let due: chrono::DateTime<Utc> = reminder(&held, 0)["planned_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + until_due + PATIENCE + Duration::from_secs(60);
    let sent = wait_for_by(&app, later_id, "sent at its time", deadline, |a| {
        reminder(a, 0)["state"] == "sent"
    })
    .await;
    let planned: chrono::DateTime<Utc> = reminder(&sent, 0)["planned_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(Utc::now() >= planned, "not before its time");
    assert_eq!(handset(&app, later_customer).await.len(), 1);
    assert!(handset(&app, CUSTOMER).await.is_empty());
    let (_, first_now) = app
        .get(&format!("/v1/workspaces/ws_r/appointments/{first_id}"))
        .await;
    assert_eq!(
        reminder(&first_now, 0)["state"],
        "paused",
        "refused, not retried"
    );
}
