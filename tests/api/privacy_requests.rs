//! Privacy requests end to end, over the API with real workers: a customer's deletion
//! instructed by the business (verified by its own key), reviewed, erased everywhere with
//! receipts that add up; a whole account's deletion needing a lead other than the filer
//! and the reviewer; a deletion blocked by a hold that waits and finishes once the hold is
//! released; deadlines and extensions; bad input refused, naming the field, storing nothing;
//! a worker killed mid-erasure, whose erasure another worker finishes, counting each row once.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use bazaarstreet::security::Role;
use bazaarstreet::security::keys::{self, KeyRequest};
use bazaarstreet::store::ids::PersonId;

use crate::erasure::{places_holding, seed_customer};
use crate::fixtures::GATED;
use bazaarstreet::app::Roles;

use crate::helpers::{
    PATIENCE, TestApp, drop_database, fresh_database_url, spawn_app, spawn_app_on, write_files,
};

const PRIVACY: &str = include_str!("../../workflows/privacy_request.toml");
const RELEASE: &str = include_str!("../../workflows/legal_hold_release.toml");

const CUSTOMER: &str = "491577700011";
const NAME: &str = "Ilse Brandwein";

/// An app with the privacy and hold-release workflows, workspaces `ws_a` and `ws_b`, each
/// with its own integration key (`shop_a`, `shop_b`), officers `ana` and `otto`, lead
/// `lena`.
async fn app() -> (TestApp, PgPool) {
    let app = spawn_app(&[
        ("privacy_request", PRIVACY),
        ("legal_hold_release", RELEASE),
        ("gated", GATED),
    ])
    .await;
    app.create_workspaces(&["ws_a", "ws_b"]).await;
    app.create_key("shop_a", Role::Integrator, Some("ws_a"))
        .await;
    app.create_key("shop_b", Role::Integrator, Some("ws_b"))
        .await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    app.create_key("otto", Role::ComplianceOfficer, None).await;
    app.create_key("lena", Role::ComplianceLead, None).await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    (app, pool)
}

/// A second key for the person holding key `of`: one person, two roles.
pub async fn second_key(app: &TestApp, pool: &PgPool, of: &str, name: &str, role: Role) {
    let person: uuid::Uuid = sqlx::query_scalar("select person_id from api_keys where name = $1")
        .bind(of)
        .fetch_one(pool)
        .await
        .unwrap();
    let request = KeyRequest {
        name: name.to_owned(),
        role,
        workspace_id: None,
        person_id: Some(PersonId::from(person)),
    };
    let (_, token) = keys::create(pool, &request, keys::Administrator::Operator("cli"))
        .await
        .unwrap();
    app.keep_token(name, &token);
}

fn deletion(workspace: &str, customer: Option<&str>) -> Value {
    let mut subject = json!({ "workspace_id": workspace });
    if let Some(wa_id) = customer {
        subject["customer"] = json!({ "phone": format!("+{wa_id}") });
    }
    json!({
        "kind": "deletion",
        "subject": subject,
        "requester": { "name": NAME, "contact": "ilse@example.com", "relation": "customer" },
        "jurisdiction": "gdpr",
        "channel": "email",
    })
}

async fn file(app: &TestApp, body: &Value, actor: &str) -> String {
    let (status, detail) = app.post_as("/v1/privacy-requests", body, actor).await;
    assert_eq!(status, 201, "{detail}");
    detail["request"]["id"].as_str().unwrap().to_owned()
}

/// Waits until the request is in `status` (read as officer `ana`); returns its detail.
async fn wait_for_request(app: &TestApp, id: &str, status: &str) -> Value {
    wait_for_request_as(app, id, status, "ana").await
}

/// Waits until the request is in `status`, read as `actor`; returns its detail.
pub async fn wait_for_request_as(app: &TestApp, id: &str, status: &str, actor: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (code, detail) = app
            .get_as(&format!("/v1/privacy-requests/{id}"), actor)
            .await;
        assert_eq!(code, 200, "{detail}");
        if detail["request"]["status"] == status {
            return detail;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("request {id} never became {status}: {detail:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn timeline(detail: &Value) -> Vec<String> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn decide(app: &TestApp, id: &str, body: &Value, actor: &str) -> (u16, Value) {
    app.post_as(&format!("/v1/privacy-requests/{id}/decision"), body, actor)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_deletion_instructed_by_the_business_erases_the_customer_everywhere() {
    let (app, pool) = app().await;
    app.create_key("olga", Role::ComplianceOfficer, None).await;
    seed_customer(&app, &pool, CUSTOMER, NAME).await;
    seed_customer(&app, &pool, "491500000999", "Kept Person").await;

    let (status, filed) = app
        .post_as(
            "/v1/privacy-requests",
            &deletion("ws_a", Some(CUSTOMER)),
            "shop_a",
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    let request = &filed["request"];
    assert_eq!(request["mode"], "processor");
    assert_eq!(
        request["customer"], CUSTOMER,
        "the phone is stored as a wa_id"
    );
    assert_eq!(request["verification_method"], "workspace_key");
    assert_eq!(request["filed_by"], "shop_a");
    assert_eq!(request["sla"], "on_track");
    let received = chrono::Utc::now().date_naive();
    let due = bazaarstreet::privacy::deadlines::deadlines(
        bazaarstreet::privacy::deadlines::Jurisdiction::Gdpr,
        received,
    )
    .due_on;
    assert_eq!(request["due_on"], due.to_string());
    let id = request["id"].as_str().unwrap().to_owned();
    let run = request["run_id"].as_str().unwrap().to_owned();
    app.wait_at_step(&run, "review").await;
    wait_for_request(&app, &id, "in_review").await;

    // The business's integration key cannot decide; a denial must name its reason.
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "shop_a").await;
    assert_eq!(status, 403);
    let (status, problem) = decide(&app, &id, &json!({ "decision": "deny" }), "ana").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/reason");
    let (status, detail) = decide(
        &app,
        &id,
        &json!({ "decision": "approve", "note": "instructed by the salon" }),
        "ana",
    )
    .await;
    assert_eq!(status, 200, "{detail}");

    let done = wait_for_request(&app, &id, "completed").await;
    app.wait_for_status(&run, "succeeded").await;
    assert_eq!(
        timeline(&done),
        [
            "filed",
            "verified",
            "review_approved",
            "erased",
            "completed"
        ]
    );
    let (status, responded) = app
        .post_as(
            &format!("/v1/privacy-requests/{id}/responses"),
            &json!({ "channel": "email", "sent_at": chrono::Utc::now() }),
            "ana",
        )
        .await;
    assert_eq!(status, 200, "{responded}");
    assert_eq!(
        timeline(&responded).last().map(String::as_str),
        Some("responded")
    );
    let request = &done["request"];
    assert!(request["customer"].is_null(), "{request}");
    assert!(request["requester_name"].is_null(), "{request}");
    assert_eq!(request["customer_sha256"].as_str().unwrap().len(), 64);
    assert!(
        request["sla"].is_null(),
        "a closed request has no SLA state"
    );
    // The receipts add up to what left the database.
    let receipts = request["receipts"]["executions"][0].as_array().unwrap();
    let rows: i64 = receipts.iter().map(|r| r["rows"].as_i64().unwrap()).sum();
    assert_eq!(request["receipts"]["totals"]["rows"], rows);
    let deleted = |table: &str| {
        receipts
            .iter()
            .find(|r| r["table"] == table)
            .map(|r| (r["action"].clone(), r["rows"].clone()))
    };
    assert_eq!(
        deleted("public.inbound_messages"),
        Some((json!("delete"), json!(1)))
    );
    assert_eq!(
        deleted("public.message_statuses"),
        Some((json!("delete"), json!(1)))
    );
    assert_eq!(places_holding(&pool, CUSTOMER).await, Vec::<String>::new());
    assert_eq!(places_holding(&pool, NAME).await, Vec::<String>::new());
    assert!(!places_holding(&pool, "491500000999").await.is_empty());
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    for action in [
        "privacy_request.filed",
        "subject.erased",
        "privacy_request.closed",
        "privacy_request.responded",
    ] {
        let count: i64 = sqlx::query_scalar("select count(*) from audit_ledger where action = $1")
            .bind(action)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1, "{action}");
    }
    // Its evidence bundle holds offline, and carries no trace of the erased customer.
    let (status, bundle) = app
        .get_as(&format!("/v1/privacy-requests/{id}/evidence"), "ana")
        .await;
    assert_eq!(status, 200, "{bundle}");
    let verified = bazaarstreet::evidence::verify::verify(&bundle, None).expect("it holds");
    assert_eq!(
        verified.timeline,
        bundle["timeline"].as_array().unwrap().len()
    );
    assert!(verified.timeline >= 4, "{verified:?}");
    assert!(!bundle.to_string().contains(CUSTOMER));
    let (status, _) = app
        .get_as(&format!("/v1/privacy-requests/{id}/evidence"), "shop_a")
        .await;
    assert_eq!(status, 403, "a confined key takes no bundle out");
    // The other workspace's key sees nothing of it.
    let (status, _) = app
        .get_as(&format!("/v1/privacy-requests/{id}"), "shop_b")
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.get_as("/v1/privacy-requests", "shop_b").await;
    assert_eq!(list["items"], json!([]));
    let (_, list) = app
        .get_as("/v1/privacy-requests?kind=deletion", "shop_a")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_account_deletion_needs_a_lead_other_than_the_filer_and_the_reviewer() {
    let (app, pool) = app().await;
    // Ana also holds a lead key; Lars is a lead of the business's own workspace.
    second_key(&app, &pool, "ana", "ana_lead", Role::ComplianceLead).await;
    app.create_key("lars", Role::ComplianceLead, Some("ws_b"))
        .await;
    app.create_key("lucia", Role::ComplianceLead, None).await;

    let id = file(&app, &deletion("ws_b", None), "lars").await;
    let detail = wait_for_request(&app, &id, "in_review").await;
    assert_eq!(detail["request"]["mode"], "controller");
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200);
    wait_for_request(&app, &id, "awaiting_second_approval").await;

    // The filer and the reviewer (through her other key) are refused, naming the rule.
    let (status, problem) = decide(&app, &id, &json!({ "decision": "approve" }), "lars").await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        problem["rule"], "not_initiator",
        "the filer started the run: {problem}"
    );
    let (status, problem) = decide(&app, &id, &json!({ "decision": "approve" }), "ana_lead").await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["rule"], "distinct_from", "{problem}");
    // The engine's plain decision would skip the request's own record: refused, nothing
    // decided.
    let run = detail["request"]["run_id"].as_str().unwrap().to_owned();
    let (status, problem) = app
        .post_as(
            &format!("/v1/runs/{run}/steps/lead_approval/decision"),
            &json!({ "decision": "approve", "reason": "around the request" }),
            "lucia",
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/v1/privacy-requests/{id}/decision"),
        "{problem}"
    );
    wait_for_request(&app, &id, "awaiting_second_approval").await;
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "lucia").await;
    assert_eq!(status, 200);

    let done = wait_for_request(&app, &id, "completed").await;
    assert_eq!(
        timeline(&done),
        [
            "filed",
            "verified",
            "review_approved",
            "lead_approval_approved",
            "erased",
            "completed"
        ]
    );
    let (_, workspace) = app.get("/v1/workspaces/ws_b").await;
    assert_eq!(workspace["status"], "closed", "{workspace}");
    let (_, other) = app.get("/v1/workspaces/ws_a").await;
    assert_ne!(other["status"], "closed");
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_blocked_by_a_hold_waits_on_hold_and_finishes_after_the_release() {
    let (app, pool) = app().await;
    seed_customer(&app, &pool, CUSTOMER, NAME).await;
    let (status, hold) = app
        .post_as(
            "/v1/legal-holds",
            &json!({ "kind": "litigation", "scope": { "workspace_id": "ws_a", "customers": [CUSTOMER],
                     "categories": ["inbound_messages"] },
                     "reason": "dispute", "matter_ref": "LIT-21" }),
            "ana",
        )
        .await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["id"].as_str().unwrap().to_owned();

    let id = file(&app, &deletion("ws_a", Some(CUSTOMER)), "shop_a").await;
    wait_for_request(&app, &id, "in_review").await;
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "otto").await;
    assert_eq!(status, 200);
    let waiting = wait_for_request(&app, &id, "on_hold").await;
    assert_eq!(waiting["request"]["hold_ids"], json!([hold_id]));
    // What the hold does not cover went; the held message stays.
    let held: i64 =
        sqlx::query_scalar("select count(*) from inbound_messages where from_number = $1")
            .bind(CUSTOMER)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(held, 1);
    let statuses: i64 =
        sqlx::query_scalar("select count(*) from message_statuses where recipient_id = $1")
            .bind(CUSTOMER)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(statuses, 0);

    // The hold is released (asked by its placer, approved by a lead): the request
    // resumes by itself and finishes.
    let (status, release) = app
        .post_as(
            &format!("/v1/legal-holds/{hold_id}/release"),
            &json!({ "reason": "settled" }),
            "ana",
        )
        .await;
    assert_eq!(status, 202, "{release}");
    let release_run = release["run"]["id"].as_str().unwrap().to_owned();
    app.wait_at_step(&release_run, "approve").await;
    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{release_run}/steps/approve/decision"),
            &json!({ "decision": "approve", "reason": "settled" }),
            "lena",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let done = wait_for_request(&app, &id, "completed").await;
    let kinds = timeline(&done);
    assert_eq!(
        kinds,
        [
            "filed",
            "verified",
            "review_approved",
            "on_hold",
            "erased",
            "completed"
        ]
    );
    assert_eq!(
        done["request"]["receipts"]["executions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Only the (released) hold's own record still names the customer: it is kept.
    assert_eq!(
        places_holding(&pool, CUSTOMER).await,
        ["public.legal_holds.customers (1)"]
    );
    assert_eq!(app.count("select count(*) from hold_waits").await, 0);
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_and_extensions_are_refused_naming_the_field_and_store_nothing() {
    let (app, pool) = app().await;
    let cases: [(Value, u16, &str); 7] = [
        (
            {
                let mut body = deletion("ws_a", None);
                body["subject"]["customer"] = json!({});
                body
            },
            422,
            "/subject/customer",
        ),
        (
            {
                let mut body = deletion("ws_a", None);
                body["subject"]["customer"] = json!({ "phone": "call me" });
                body
            },
            422,
            "/subject/customer/phone",
        ),
        (
            {
                let mut body = deletion("ws_a", Some(CUSTOMER));
                body["kind"] = json!("disconnect");
                body
            },
            422,
            "/subject/customer",
        ),
        (
            {
                let mut body = deletion("ws_a", None);
                body["received_at"] = json!("2999-01-01T00:00:00Z");
                body
            },
            422,
            "/received_at",
        ),
        (
            {
                let mut body = deletion("ws_a", None);
                body["requester"]["name"] = json!("   ");
                body
            },
            422,
            "/requester/name",
        ),
        (deletion("ws_nowhere", None), 404, ""),
        (deletion("ws_b", None), 404, ""),
    ];
    for (body, expected, pointer) in cases {
        let (status, problem) = app.post_as("/v1/privacy-requests", &body, "shop_a").await;
        assert_eq!(status, expected, "{body} -> {problem}");
        if !pointer.is_empty() {
            let pointers: Vec<&str> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pointer"].as_str().unwrap())
                .collect();
            assert!(pointers.contains(&pointer), "{body} -> {problem}");
        }
    }
    let mut unknown = deletion("ws_a", None);
    unknown["jurisdiction"] = json!("mars");
    let (status, _) = app
        .post_as("/v1/privacy-requests", &unknown, "shop_a")
        .await;
    assert_eq!(status, 400);
    assert_eq!(app.count("select count(*) from privacy_requests").await, 0);
    assert_eq!(
        app.count("select count(*) from audit_ledger where action like 'privacy_request.%'")
            .await,
        0
    );

    // CCPA: 45 days, one 45-day extension with notice, never past 90 days.
    let mut ccpa = deletion("ws_a", Some(CUSTOMER));
    ccpa["jurisdiction"] = json!("ccpa");
    ccpa["received_at"] = json!(chrono::Utc::now() - chrono::Duration::days(2));
    let id = file(&app, &ccpa, "shop_a").await;
    let (_, detail) = app
        .get_as(&format!("/v1/privacy-requests/{id}"), "ana")
        .await;
    let received = (chrono::Utc::now() - chrono::Duration::days(2)).date_naive();
    let due = received + chrono::Days::new(45);
    assert_eq!(detail["request"]["due_on"], due.to_string());
    assert!(detail["request"]["acknowledge_by"].is_string());
    let metrics = crate::metrics::scrape(&app).await;
    assert!(
        metrics
            .contains("bazaarstreet_privacy_requests_open{kind=\"deletion\",sla=\"on_track\"} 1"),
        "{metrics}"
    );
    let path = format!("/v1/privacy-requests/{id}/extensions");
    let extension = |to: chrono::NaiveDate, reason: &str| json!({ "to": to.to_string(), "reason": reason, "notice_at": chrono::Utc::now() });
    let (status, problem) = app
        .post_as(
            &path,
            &extension(received + chrono::Days::new(91), "complex"),
            "ana",
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/to");
    let (status, problem) = app
        .post_as(
            &path,
            &extension(received + chrono::Days::new(90), "complex"),
            "shop_a",
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    let (status, extended) = app
        .post_as(
            &path,
            &extension(received + chrono::Days::new(90), "complex"),
            "ana",
        )
        .await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(
        extended["request"]["due_on"],
        (received + chrono::Days::new(90)).to_string()
    );
    assert_eq!(extended["extensions"][0]["from_due"], due.to_string());
    assert_eq!(extended["extensions"][0]["extended_by"], "ana");
    let (status, problem) = app
        .post_as(
            &path,
            &extension(received + chrono::Days::new(90), "again"),
            "ana",
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'privacy_request.extended'")
            .await,
        1
    );

    // Past its original due date a request can no longer be extended; it shows overdue.
    let mut late = deletion("ws_a", Some(CUSTOMER));
    late["received_at"] = json!(chrono::Utc::now() - chrono::Duration::days(60));
    let late = file(&app, &late, "shop_a").await;
    let (_, detail) = app
        .get_as(&format!("/v1/privacy-requests/{late}"), "ana")
        .await;
    assert_eq!(detail["request"]["sla"], "overdue", "{detail}");
    let (status, problem) = app
        .post_as(
            &format!("/v1/privacy-requests/{late}/extensions"),
            &extension(
                chrono::Utc::now().date_naive() + chrono::Days::new(10),
                "late",
            ),
            "ana",
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("extension-too-late"),
        "{problem}"
    );
    let (status, problem) = app
        .post_as(
            &format!("/v1/privacy-requests/{late}/responses"),
            &json!({ "channel": "email", "sent_at": chrono::Utc::now() }),
            "ana",
        )
        .await;
    assert_eq!(
        status, 409,
        "an open request has no answer to record: {problem}"
    );
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_erasure_finishes_it_once() {
    const ROWS: i64 = 60_000;
    let database_url = fresh_database_url();
    let workflows = [("privacy_request", PRIVACY)];
    let dir = write_files(&workflows);
    let mut api = spawn_app_on(&database_url, &workflows, &[], Roles::Api).await;
    api.create_workspaces(&["ws_a"]).await;
    api.create_key("shop_a", Role::Integrator, Some("ws_a"))
        .await;
    api.create_key("ana", Role::ComplianceOfficer, None).await;
    let pool = PgPool::connect(&database_url).await.unwrap();
    sqlx::query(
        "insert into inbound_messages (message_id, workspace_id, from_number, message_type, payload)
         select 'crash.' || i, 'ws_a', $1, 'text', '{}' from generate_series(1, $2) i",
    )
    .bind(CUSTOMER)
    .bind(ROWS)
    .execute(&pool)
    .await
    .unwrap();
    let left = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from inbound_messages")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let mut doomed = crate::crash::process("worker", &database_url, dir.path())
        .spawn()
        .expect("worker starts");
    let id = file(&api, &deletion("ws_a", Some(CUSTOMER)), "shop_a").await;
    wait_for_request(&api, &id, "in_review").await;
    let (status, body) = decide(&api, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while left().await == ROWS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the erasure never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let remaining = left().await;
    assert!(remaining > 0, "killed mid-way ({remaining} rows left)");

    let mut rescuer = crate::crash::process("worker", &database_url, dir.path())
        .spawn()
        .expect("worker starts");
    // Not the helpers' patience: the killed worker's attempt is taken over after its
    // heartbeats stop, and a debug build erases slowly on a loaded machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let done = loop {
        let (_, detail) = api
            .get_as(&format!("/v1/privacy-requests/{id}"), "ana")
            .await;
        if detail["request"]["status"] == "completed" {
            break detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the erasure never finished: {detail:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(left().await, 0);
    let receipts = done["request"]["receipts"]["executions"][0]
        .as_array()
        .unwrap();
    let inbound = receipts
        .iter()
        .find(|r| r["table"] == "public.inbound_messages")
        .unwrap();
    assert_eq!(inbound["rows"], ROWS, "every row counted once: {inbound}");
    assert_eq!(
        timeline(&done),
        [
            "filed",
            "verified",
            "review_approved",
            "erased",
            "completed"
        ]
    );
    for action in ["subject.erased", "privacy_request.closed"] {
        let count: i64 = sqlx::query_scalar("select count(*) from audit_ledger where action = $1")
            .bind(action)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1, "{action}");
    }
    rescuer.kill().ok();
    rescuer.wait().ok();
    drop(pool);
    api.stop_service().await;
    drop_database(&database_url).await;
}

/// What the customer's phone shows: the parameters of each message it received.
pub async fn handset(app: &TestApp, wa_id: &str) -> Vec<Value> {
    let sandbox = app.sandbox_address.as_ref().expect("a sandbox");
    let body: Value = app
        .client
        .get(format!("{sandbox}/sandbox/handsets/{wa_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["messages"].as_array().unwrap().clone()
}

/// Waits until the customer's phone has `n` messages; the code in the last one.
async fn code_on_phone(app: &TestApp, wa_id: &str, n: usize) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let messages = handset(app, wa_id).await;
        if messages.len() >= n {
            let last = &messages[n - 1];
            assert_eq!(last["template"], "privacy_verification_code", "{last}");
            return last["parameters"][0].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no code {n} on {wa_id}'s phone: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn verify(app: &TestApp, id: &str, code: &str) -> (u16, Value) {
    app.post_as(
        &format!("/v1/privacy-requests/{id}/verification"),
        &json!({ "code": code }),
        "otto",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_is_verified_by_a_code_sent_to_their_whatsapp_number() {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let approval = std::fs::read_to_string("workflows/template_approval.toml").unwrap();
    let app = spawn_app(&[
        ("privacy_request", PRIVACY),
        ("onboarding", onboarding.as_str()),
        ("template_approval", approval.as_str()),
    ])
    .await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    app.create_key("otto", Role::ComplianceOfficer, None).await;
    let (_, run, _) = crate::onboarding::onboard(&app, "ws_v").await;
    app.wait_for_status(&run, "succeeded").await;
    let (status, template) = app
        .post(
            "/v1/workspaces/ws_v/templates",
            &json!({ "name": "privacy_verification_code", "language": "en_US",
                     "category": "AUTHENTICATION",
                     "components": [{ "type": "BODY", "text": "Your verification code is {{1}}. Do not share it." }],
                     "examples": ["123456"] }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    app.wait_for_status(template["run_id"].as_str().unwrap(), "succeeded")
        .await;

    // Filed by staff for a customer who wrote in: not verified at intake.
    let id = file(&app, &deletion("ws_v", Some(CUSTOMER)), "otto").await;
    let first = code_on_phone(&app, CUSTOMER, 1).await;
    let waiting = wait_for_request(&app, &id, "verifying").await;
    assert!(waiting["request"]["verified_at"].is_null());
    let wrong = if first == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, problem) = verify(&app, &id, wrong).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/code");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2 attempt"),
        "{problem}"
    );
    // A fresh code supersedes the first (it arrives once Meta's pair limit allows).
    let (status, body) = app
        .post_as(
            &format!("/v1/privacy-requests/{id}/verification/code"),
            &json!({}),
            "otto",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = code_on_phone(&app, CUSTOMER, 2).await;
    if second != first {
        let (status, _) = verify(&app, &id, &first).await;
        assert_eq!(status, 422, "the superseded code no longer works");
    }
    let (status, verified) = verify(&app, &id, &second).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["request"]["verification_method"], "whatsapp_code");
    let (status, _) = verify(&app, &id, &second).await;
    assert_eq!(status, 409, "a used code");
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200);
    let done = wait_for_request(&app, &id, "completed").await;
    let kinds = timeline(&done);
    assert_eq!(
        kinds.iter().filter(|k| *k == "code_sent").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"verified".to_owned()), "{kinds:?}");

    // Neither code is stored or recorded anywhere readable.
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    for code in [&first, &second] {
        for (table, column) in [
            ("audit_ledger", "data"),
            ("privacy_request_events", "detail"),
            ("run_history", "data"),
            ("run_steps", "output"),
        ] {
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "select count(*) from {table} where {column}::text like '%' || $1 || '%'"
            )))
            .bind(code.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(count, 0, "the code is in {table}");
        }
    }

    // Three wrong entries exhaust a code; an expired code is refused.
    let other = "491577700022";
    let id = file(&app, &deletion("ws_v", Some(other)), "otto").await;
    let code = code_on_phone(&app, other, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        let (status, _) = verify(&app, &id, wrong).await;
        assert_eq!(status, 422);
    }
    let (status, problem) = verify(&app, &id, &code).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("code-exhausted"),
        "{problem}"
    );
    let (status, _) = app
        .post_as(
            &format!("/v1/privacy-requests/{id}/verification/code"),
            &json!({}),
            "otto",
        )
        .await;
    assert_eq!(status, 200);
    let code = code_on_phone(&app, other, 2).await;
    sqlx::query("update privacy_verification_codes set expires_at = now() - interval '1 second' where status = 'open'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, problem) = verify(&app, &id, &code).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["type"].as_str().unwrap().ends_with("code-expired"),
        "{problem}"
    );
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_left_unverified_closes_as_unverified() {
    // The 14 days shortened to a second; a business account filed by staff gets no code.
    let quick = PRIVACY.replace(r#"timeout = "14d""#, r#"timeout = "1s""#);
    assert_ne!(quick, PRIVACY);
    let app = spawn_app(&[("privacy_request", quick.as_str())]).await;
    app.create_workspaces(&["ws_a"]).await;
    app.create_key("otto", Role::ComplianceOfficer, None).await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    let id = file(&app, &deletion("ws_a", None), "otto").await;
    let closed = wait_for_request(&app, &id, "unverified").await;
    assert_eq!(timeline(&closed), ["filed", "code_not_sent", "unverified"]);
    assert!(closed["request"]["closed_at"].is_string());
    assert!(closed["request"]["verified_at"].is_null());
    let (status, problem) = decide(&app, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'privacy_request.closed'")
            .await,
        1
    );
    app.stop().await;
}

async fn fetch_package(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    crate::helpers::read(response).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_package_holds_exactly_the_subjects_data_and_its_link_works_five_times() {
    use sha2::{Digest, Sha256};
    let (app, pool) = app().await;
    seed_customer(&app, &pool, CUSTOMER, NAME).await;
    seed_customer(&app, &pool, "491500000999", "Kept Person").await;
    let mut body = deletion("ws_a", Some(CUSTOMER));
    body["kind"] = json!("access");
    let id = file(&app, &body, "shop_a").await;
    wait_for_request(&app, &id, "in_review").await;
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200);
    let done = wait_for_request(&app, &id, "completed").await;
    assert_eq!(
        timeline(&done),
        [
            "filed",
            "verified",
            "review_approved",
            "exported",
            "completed"
        ]
    );
    let manifest = done["package"]["manifest"].clone();
    assert_eq!(done["package"]["files_deleted"], false);
    assert_eq!(manifest["format"], "bazaarstreet-access-package/1");
    assert!(
        manifest["files"].as_array().unwrap().len() >= 3,
        "{manifest}"
    );
    assert!(
        !places_holding(&pool, CUSTOMER).await.is_empty(),
        "an access deletes nothing"
    );

    let link = format!("/v1/privacy-requests/{id}/package/link");
    let (status, _) = app.post_as(&link, &json!({}), "shop_a").await;
    assert_eq!(status, 403);
    let (status, first) = app.post_as(&link, &json!({}), "ana").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["fetches"], 5);
    let first = first["path"].as_str().unwrap().to_owned();
    let (status, package) = fetch_package(&app, &first).await;
    assert_eq!(status, 200, "{package}");
    assert_eq!(package["manifest"], manifest);
    let files = package["files"].as_object().unwrap();
    let mut everything = String::new();
    for listed in manifest["files"].as_array().unwrap() {
        let text = files[listed["name"].as_str().unwrap()].as_str().unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(text.as_bytes())),
            listed["sha256"].as_str().unwrap(),
            "{listed}"
        );
        everything.push_str(text);
    }
    assert!(everything.contains(CUSTOMER) && everything.contains(NAME));
    assert!(!everything.contains("491500000999") && !everything.contains("Kept Person"));

    // A new link replaces the first; each works as often as it may, then is gone.
    let (_, second) = app.post_as(&link, &json!({}), "ana").await;
    let second = second["path"].as_str().unwrap().to_owned();
    let (status, _) = fetch_package(&app, &first).await;
    assert_eq!(status, 404);
    for _ in 0..5 {
        let (status, _) = fetch_package(&app, &second).await;
        assert_eq!(status, 200);
    }
    let (status, problem) = fetch_package(&app, &second).await;
    assert_eq!(status, 404, "{problem}");
    let (status, _) = fetch_package(&app, "/privacy/packages/not-a-token").await;
    assert_eq!(status, 404);

    // The business's own access request (controller mode): its workspace's records.
    let mut own = deletion("ws_a", None);
    own["kind"] = json!("access");
    let own = file(&app, &own, "shop_a").await;
    wait_for_request(&app, &own, "in_review").await;
    let (status, _) = decide(&app, &own, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200);
    let done = wait_for_request(&app, &own, "completed").await;
    assert_eq!(done["request"]["mode"], "controller");
    let names: Vec<&str> = done["package"]["manifest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"workspace_config.json"), "{names:?}");

    // A deletion request has no package; no link token is in the ledger.
    let other = file(&app, &deletion("ws_a", None), "shop_a").await;
    let (status, problem) = app
        .post_as(
            &format!("/v1/privacy-requests/{other}/package/link"),
            &json!({}),
            "ana",
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    let token = second.rsplit('/').next().unwrap();
    let leaked: i64 = sqlx::query_scalar(
        "select count(*) from audit_ledger where data::text like '%' || $1 || '%'",
    )
    .bind(token)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    assert_eq!(
        app.count(
            "select count(*) from audit_ledger where action = 'privacy_request.package_link_issued'"
        )
        .await,
        2
    );
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disconnect_deregisters_the_number_unsubscribes_the_app_and_wipes_the_token() {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let app = spawn_app(&[
        ("privacy_request", PRIVACY),
        ("onboarding", onboarding.as_str()),
    ])
    .await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    app.create_key("lena", Role::ComplianceLead, None).await;
    let (_, run, _) = crate::onboarding::onboard(&app, "ws_d").await;
    app.wait_for_status(&run, "succeeded").await;
    app.create_key("shop_d", Role::Integrator, Some("ws_d"))
        .await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    let phone: String =
        sqlx::query_scalar("select phone_number_id from workspaces where id = 'ws_d'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let number = || async {
        let sandbox = app.sandbox_address.as_ref().unwrap();
        app.client
            .get(format!("{sandbox}/sandbox/numbers/{phone}"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let before = number().await;
    assert_eq!(
        (before["registered"].clone(), before["subscribed"].clone()),
        (json!(true), json!(true)),
        "{before}"
    );

    let mut body = deletion("ws_d", None);
    body["kind"] = json!("disconnect");
    let id = file(&app, &body, "shop_d").await;
    wait_for_request(&app, &id, "in_review").await;
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200);
    wait_for_request(&app, &id, "awaiting_second_approval").await;
    // Meta fails the unsubscribe once: the step is retried, calling Meta again.
    crate::onboarding::sandbox_post(
        &app,
        "/sandbox/faults",
        json!({ "operation": "waba.unsubscribe_app", "code": 2, "is_transient": true,
                "http_status": 503, "times": 1 }),
    )
    .await;
    let (status, _) = decide(&app, &id, &json!({ "decision": "approve" }), "lena").await;
    assert_eq!(status, 200);
    let done = wait_for_request(&app, &id, "completed").await;
    let run = done["request"]["run_id"].as_str().unwrap().to_owned();
    let (_, detail) = app.get(&format!("/v1/runs/{run}")).await;
    let execute = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step_id"] == "execute")
        .unwrap()
        .clone();
    assert_eq!(execute["attempts"], 2, "{execute}");
    assert_eq!(
        timeline(&done),
        [
            "filed",
            "verified",
            "review_approved",
            "lead_approval_approved",
            "disconnected",
            "completed"
        ]
    );
    let after = number().await;
    assert_eq!(
        (after["registered"].clone(), after["subscribed"].clone()),
        (json!(false), json!(false)),
        "{after}"
    );
    let (status, token): (String, Option<Vec<u8>>) =
        sqlx::query_as("select status, access_token_sealed from workspaces where id = 'ws_d'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "disconnected");
    assert!(token.is_none(), "the token is wiped");
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'workspace.disconnected'")
            .await,
        1
    );
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metas_data_deletion_callback_files_a_request_shown_on_a_public_status_page() {
    use crate::onboarding::sandbox_post;
    const USER: &str = "7319004422";
    let app = spawn_app(&[("privacy_request", PRIVACY)]).await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;

    // A callback not signed with the app secret is refused and files nothing.
    let forged = sandbox_post(
        &app,
        "/sandbox/data-deletion",
        json!({ "user_id": USER, "secret": "guess" }),
    )
    .await;
    assert_eq!(forged["status"], 400, "{forged}");
    assert!(
        forged["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{forged}"
    );
    assert_eq!(app.count("select count(*) from privacy_requests").await, 0);

    let answer = sandbox_post(&app, "/sandbox/data-deletion", json!({ "user_id": USER })).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let code = answer["body"]["confirmation_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = answer["body"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.ends_with(&format!("/privacy/deletion-status/{code}")),
        "{url}"
    );
    // Meta retrying gets the same request.
    let again = sandbox_post(&app, "/sandbox/data-deletion", json!({ "user_id": USER })).await;
    assert_eq!(again["body"]["confirmation_code"], code.as_str());
    assert_eq!(app.count("select count(*) from privacy_requests").await, 1);

    let client = app.client.clone();
    let page = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, html) = page(url.clone()).await;
    assert_eq!(status, 200);
    assert!(html.contains("being reviewed"), "{html}");
    assert!(!html.contains(USER));

    let (_, list) = app.get_as("/v1/privacy-requests", "ana").await;
    let request = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["confirmation_code"] == code.as_str())
        .unwrap()
        .clone();
    assert!(request["workspace_id"].is_null(), "{request}");
    assert_eq!(request["verification_method"], "meta_signed_request");
    let id = request["id"].as_str().unwrap().to_owned();
    wait_for_request(&app, &id, "in_review").await;
    let (status, body) = decide(&app, &id, &json!({ "decision": "approve" }), "ana").await;
    assert_eq!(status, 200, "{body}");
    wait_for_request(&app, &id, "completed").await;
    let (_, html) = page(url.clone()).await;
    assert!(html.contains("Completed on"), "{html}");
    assert!(html.contains("never Meta user profiles"), "{html}");
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    assert_eq!(
        places_holding(&pool, USER).await,
        Vec::<String>::new(),
        "the user id is kept only hashed"
    );
    let (status, _) = page(url.replace(&code, "0000000000000000")).await;
    assert_eq!(status, 404);
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_stored_without_its_run_gets_one_from_the_starter() {
    let (app, pool) = app().await;
    // As if the process had stopped between storing the request and starting its run.
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into privacy_requests (id, workspace_id, kind, mode, requester_relation,
             jurisdiction, channel, received_at, due_on, status, filed_by,
             verification_method, verified_at, created_at)
         values (gen_random_uuid(), 'ws_a', 'deletion', 'controller', 'owner', 'gdpr', 'email',
             now(), current_date + 30, 'received', 'shop_a', 'workspace_key', now(),
             now() - interval '2 minutes')
         returning id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let started = bazaarstreet::privacy::requests::start_missing_runs(&app.engine, 60.0)
        .await
        .unwrap();
    assert_eq!(started, 1);
    let waiting = wait_for_request(&app, &id.to_string(), "in_review").await;
    assert!(waiting["request"]["run_id"].is_string(), "{waiting}");
    let again = bazaarstreet::privacy::requests::start_missing_runs(&app.engine, 60.0)
        .await
        .unwrap();
    assert_eq!(again, 0, "one run per request");
    drop(pool);
    app.stop().await;
}
