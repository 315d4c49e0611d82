//! Requests from public authorities end to end, over the API with real workers: a court
//! order reviewed, narrowed, preserved, packaged (exactly the approved scope, byte for
//! byte), disclosed by a second person and notified; an invalid one rejected; a
//! clarification answered and one lapsed; an emergency disclosed on one lead's approval
//! and post-reviewed (and escalated when late); a preservation renewed once and closed
//! when its hold ends; a notice held back by a nondisclosure order and sent once when it
//! ends; bad input refused naming the field; confined keys kept out; the transparency
//! counts; a worker killed while packaging, whose work another finishes once.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use bazaarstreet::security::Role;
use bazaarstreet::security::audit::canonical_json;

use crate::helpers::{PATIENCE, TestApp, spawn_app};

pub const AUTHORITY: &str = include_str!("../../workflows/authority_request.toml");

pub const INSIDE: &str = "491577700021";
const OUTSIDE: &str = "491577700022";

/// An app running `workflow` (the authority workflow, perhaps with shorter waits), with
/// workspaces `ws_a` and `ws_b`, filer `fay` and officer `otto`, leads `lena` and `leo`.
pub async fn app_with(workflow: &str) -> (TestApp, PgPool) {
    let app = spawn_app(&[("authority_request", workflow)]).await;
    app.create_workspaces(&["ws_a", "ws_b"]).await;
    app.create_key("fay", Role::ComplianceOfficer, None).await;
    app.create_key("otto", Role::ComplianceOfficer, None).await;
    app.create_key("lena", Role::ComplianceLead, None).await;
    app.create_key("leo", Role::ComplianceLead, None).await;
    app.create_key("shop_a", Role::Integrator, Some("ws_a"))
        .await;
    app.create_key("audra", Role::Auditor, None).await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    (app, pool)
}

pub async fn app() -> (TestApp, PgPool) {
    app_with(AUTHORITY).await
}

/// A status row of `customer` in `workspace`, updated at `at`.
async fn status_row(pool: &PgPool, id: &str, workspace: &str, customer: &str, at: &str) {
    sqlx::query(
        "insert into message_statuses (message_id, workspace_id, recipient_id, status, updated_at)
         values ($1, $2, $3, 'delivered', $4::timestamptz)",
    )
    .bind(id)
    .bind(workspace)
    .bind(customer)
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
}

/// Seeds statuses inside and outside the approved scope of [`court_order`]'s review, and
/// a message (content: never reached by a court order). Answers the inside rows' ids.
pub async fn seed(pool: &PgPool) -> Vec<&'static str> {
    status_row(pool, "in-july", "ws_a", INSIDE, "2026-07-01T10:00:00Z").await;
    status_row(pool, "in-august", "ws_a", INSIDE, "2026-08-01T10:00:00Z").await;
    status_row(pool, "too-early", "ws_a", INSIDE, "2026-03-01T10:00:00Z").await;
    status_row(
        pool,
        "other-customer",
        "ws_a",
        OUTSIDE,
        "2026-07-02T10:00:00Z",
    )
    .await;
    status_row(
        pool,
        "other-workspace",
        "ws_b",
        INSIDE,
        "2026-07-03T10:00:00Z",
    )
    .await;
    sqlx::query(
        "insert into inbound_messages (message_id, workspace_id, from_number, message_type, payload, received_at)
         values ('content-1', 'ws_a', $1, 'text', '{\"text\": {\"body\": \"see you at 5\"}}', '2026-07-01T10:00:00Z')",
    )
    .bind(INSIDE)
    .execute(pool)
    .await
    .unwrap();
    vec!["in-august", "in-july"]
}

fn requested_scope() -> Value {
    json!({
        "workspaces": ["ws_a"],
        "customers": [INSIDE, OUTSIDE],
        "categories": ["message_statuses", "inbound_messages"],
        "from": "2026-01-01T00:00:00Z",
        "to": "2026-12-31T00:00:00Z",
    })
}

pub fn approved_scope() -> Value {
    json!({
        "workspaces": ["ws_a"],
        "customers": [INSIDE],
        "categories": ["message_statuses"],
        "from": "2026-06-01T00:00:00Z",
        "to": "2026-12-31T00:00:00Z",
    })
}

pub fn court_order(instrument: &str) -> Value {
    json!({
        "authority": "Example County Sheriff",
        "jurisdiction": "US-CA",
        "instrument": instrument,
        "reference": "CR-2026-0001",
        "received_at": "2026-12-01T09:00:00Z",
        "requested_scope": requested_scope(),
        "documents": [{ "name": "order.pdf", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }],
    })
}

pub async fn file(app: &TestApp, body: &Value) -> String {
    let (status, detail) = app.post_as("/v1/authority-requests", body, "fay").await;
    assert_eq!(status, 201, "{detail}");
    detail["request"]["id"].as_str().unwrap().to_owned()
}

/// Waits until the request is in `status`; returns its detail.
pub async fn wait_for(app: &TestApp, id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (code, detail) = app
            .get_as(&format!("/v1/authority-requests/{id}"), "otto")
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

pub async fn act(app: &TestApp, id: &str, what: &str, body: &Value, actor: &str) -> (u16, Value) {
    app.post_as(&format!("/v1/authority-requests/{id}/{what}"), body, actor)
        .await
}

pub fn timeline(detail: &Value) -> Vec<String> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn hold_status(pool: &PgPool, id: &str) -> String {
    sqlx::query_scalar("select status from legal_holds where id = $1::uuid")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Files, reviews (as `otto`) and waits for the disclosure approval; answers the id.
pub async fn reviewed_court_order(app: &TestApp) -> String {
    let id = file(app, &court_order("court_order")).await;
    wait_for(app, &id, "in_review").await;
    let (status, body) = act(
        app,
        &id,
        "review",
        &json!({ "verdict": "valid", "approved_scope": approved_scope(), "reason": "2703(d) order; three months supported" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(app, &id, "awaiting_disclosure_approval").await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_court_order_is_narrowed_preserved_packaged_exactly_disclosed_by_a_second_lead_and_notified()
 {
    let (app, pool) = app().await;
    let inside = seed(&pool).await;
    let id = file(&app, &court_order("court_order")).await;
    wait_for(&app, &id, "in_review").await;

    // The filer may not review; a scope wider than the request or the instrument is
    // refused naming the field; nothing is written by either.
    let (status, refused) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "valid", "approved_scope": approved_scope() }),
        "fay",
    )
    .await;
    assert_eq!(
        (status, refused["rule"].as_str()),
        (403, Some("not_initiator")),
        "{refused}"
    );
    let mut wider = approved_scope();
    wider["categories"] = json!(["message_statuses", "inbound_messages"]);
    wider["customers"] = json!([INSIDE, "491500009999"]);
    let (status, problem) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "valid", "approved_scope": wider }),
        "otto",
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/approved_scope/customers/1",
            "/approved_scope/categories/1"
        ],
        "{problem}"
    );
    assert!(
        problem
            .to_string()
            .contains("a court_order reaches non_content_records at most")
    );
    let (_, detail) = app
        .get_as(&format!("/v1/authority-requests/{id}"), "otto")
        .await;
    assert_eq!(detail["request"]["verdict"], Value::Null, "{detail}");
    assert_eq!(timeline(&detail), ["filed"]);

    let (status, body) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "valid", "approved_scope": approved_scope(), "reason": "three months supported" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let detail = wait_for(&app, &id, "awaiting_disclosure_approval").await;
    let request = &detail["request"];
    assert_eq!(request["narrowed"]["customers"], json!([OUTSIDE]));
    assert_eq!(
        request["narrowed"]["categories"],
        json!(["inbound_messages"])
    );
    assert_eq!(
        request["basis"]["message_statuses"]["rule"],
        "message_statuses: non_content_records may be produced under a court_order"
    );
    // Preserved while it is handled.
    let hold = request["hold_ids"][0].as_str().unwrap().to_owned();
    assert_eq!(hold_status(&pool, &hold).await, "active");
    // Another hold on the same customer, placed for a matter of its own.
    let (status, other) = app
        .post_as(
            "/v1/legal-holds",
            &json!({ "kind": "litigation", "scope": { "workspace_id": "ws_a", "customers": [INSIDE] },
                     "reason": "civil claim", "matter_ref": "CIV-7" }),
            "otto",
        )
        .await;
    assert_eq!(status, 201, "{other}");

    // The package: exactly the inside rows, byte for byte, before anyone may fetch it.
    let (status, early) = app
        .get_as(&format!("/v1/authority-requests/{id}/package"), "lena")
        .await;
    assert_eq!(
        (
            status,
            early["type"].as_str().map(|t| t.ends_with("not-approved"))
        ),
        (409, Some(true)),
        "{early}"
    );
    let manifest = &detail["package"]["manifest"];
    assert_eq!(manifest["files"].as_array().unwrap().len(), 1, "{manifest}");
    assert_eq!(manifest["workspaces"], json!(["ws_a"]));

    // Four eyes: neither the reviewer nor the filer approves the disclosure, not even
    // through a lead's key of their own; an officer never does.
    crate::privacy_requests::second_key(&app, &pool, "otto", "otto_lead", Role::ComplianceLead)
        .await;
    crate::privacy_requests::second_key(&app, &pool, "fay", "fay_lead", Role::ComplianceLead).await;
    for (who, rule) in [
        ("otto", "role"),
        ("otto_lead", "distinct_from"),
        ("fay_lead", "not_initiator"),
    ] {
        let (status, refused) = act(
            &app,
            &id,
            "disclosure",
            &json!({ "decision": "approve" }),
            who,
        )
        .await;
        assert_eq!(
            (status, refused["rule"].as_str()),
            (403, Some(rule)),
            "{who}: {refused}"
        );
    }
    let (_, detail) = app
        .get_as(&format!("/v1/authority-requests/{id}"), "otto")
        .await;
    assert!(!timeline(&detail).contains(&"disclosure_approved".to_owned()));

    let (status, body) = act(
        &app,
        &id,
        "disclosure",
        &json!({ "decision": "approve", "reason": "matches" }),
        "lena",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = wait_for(&app, &id, "closed").await;
    let request = &closed["request"];
    assert_eq!(request["outcome"], "disclosed");
    assert_eq!(request["disclosed_by"], "lena");
    assert_eq!(
        timeline(&closed),
        [
            "filed",
            "reviewed",
            "preserved",
            "package_built",
            "disclosure_approved",
            "disclosed",
            "notice_sent",
            "closed"
        ]
    );
    let disclosed = closed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "disclosed")
        .unwrap();
    assert_eq!(
        disclosed["detail"]["package_sha256"],
        request["package_sha256"]
    );
    assert_eq!(disclosed["detail"]["recipient"], "Example County Sheriff");
    assert!(disclosed["detail"]["basis"]["message_statuses"].is_object());

    let (status, package) = app
        .get_as(&format!("/v1/authority-requests/{id}/package"), "lena")
        .await;
    assert_eq!(status, 200, "{package}");
    let content = package["files"]["message_statuses.json"].as_str().unwrap();
    let mut rows: Vec<Value> = Vec::new();
    for message in &inside {
        rows.push(
            sqlx::query_scalar("select to_jsonb(t) from message_statuses t where message_id = $1")
                .bind(message)
                .fetch_one(&pool)
                .await
                .unwrap(),
        );
    }
    rows.sort_by_key(canonical_json);
    let expected = serde_json::to_string_pretty(&json!({
        "category": "message_statuses",
        "tables": { "public.message_statuses": rows },
    }))
    .unwrap();
    assert_eq!(content, expected);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content.as_bytes()));
    assert_eq!(package["manifest"]["files"][0]["sha256"], digest);

    // The business was told once; the request's hold is released, the other one stays.
    assert_eq!(closed["notices"][0]["workspace_id"], "ws_a");
    assert_eq!(closed["notices"][0]["status"], "sent");
    let (_, notices) = app.get_as("/v1/notices", "shop_a").await;
    assert_eq!(notices["items"].as_array().unwrap().len(), 1, "{notices}");
    assert_eq!(notices["items"][0]["body"]["reference"], "CR-2026-0001");
    assert_eq!(hold_status(&pool, &hold).await, "released");
    assert_eq!(
        hold_status(&pool, other["id"].as_str().unwrap()).await,
        "active"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_request_closes_with_its_reason_and_produces_nothing() {
    let (app, pool) = app().await;
    seed(&pool).await;
    let id = file(&app, &court_order("subpoena")).await;
    wait_for(&app, &id, "in_review").await;
    let (status, problem) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "invalid" }),
        "otto",
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/reason");
    let (status, body) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "invalid", "reason": "served on the wrong entity" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = wait_for(&app, &id, "closed").await;
    assert_eq!(closed["request"]["outcome"], "rejected");
    assert_eq!(
        closed["request"]["verdict_reason"],
        "served on the wrong entity"
    );
    assert_eq!(timeline(&closed), ["filed", "reviewed", "closed"]);
    assert_eq!(closed["package"], Value::Null);
    assert_eq!(app.count("select count(*) from legal_holds").await, 0);
    assert_eq!(
        app.count("select count(*) from authority_packages").await,
        0
    );
    assert_eq!(app.count("select count(*) from authority_notices").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clarification_returns_the_request_to_review_and_so_does_its_timeout() {
    let quick = AUTHORITY.replace(r#"timeout = "30d""#, r#"timeout = "1s""#);
    assert_ne!(quick, AUTHORITY);
    let (app, _pool) = app_with(&quick).await;
    let id = file(&app, &court_order("court_order")).await;
    wait_for(&app, &id, "in_review").await;
    let (status, early) = act(
        &app,
        &id,
        "clarification",
        &json!({ "note": "too soon" }),
        "fay",
    )
    .await;
    assert_eq!(status, 409, "{early}");
    let ask = json!({ "verdict": "needs_clarification", "reason": "which account?" });
    let (status, body) = act(&app, &id, "review", &ask, "otto").await;
    assert_eq!(status, 200, "{body}");
    wait_for(&app, &id, "needs_clarification").await;
    let (status, body) = act(
        &app,
        &id,
        "clarification",
        &json!({ "note": "the salon's number only" }),
        "fay",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&app, &id, "in_review").await;

    // Asked again; no answer within the (shortened) wait: back to review all the same.
    let (status, body) = act(&app, &id, "review", &ask, "otto").await;
    assert_eq!(status, 200, "{body}");
    let back = wait_for(&app, &id, "in_review").await;
    assert_eq!(
        timeline(&back),
        [
            "filed",
            "reviewed",
            "clarification_received",
            "reviewed",
            "clarification_lapsed"
        ]
    );
    let (status, body) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "invalid", "reason": "never clarified" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        wait_for(&app, &id, "closed").await["request"]["outcome"],
        "rejected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emergency_is_disclosed_on_one_leads_approval_then_post_reviewed_by_a_second_person() {
    let (app, pool) = app().await;
    seed(&pool).await;
    let mut body = court_order("emergency");
    body["requested_scope"]["categories"] = json!(["message_statuses", "inbound_messages"]);
    let id = file(&app, &body).await;
    wait_for(&app, &id, "awaiting_emergency_approval").await;
    // An officer cannot approve an emergency: a lead does, alone.
    let mut approved = approved_scope();
    approved["categories"] = json!(["inbound_messages"]);
    let review =
        json!({ "verdict": "valid", "approved_scope": approved, "reason": "threat to life" });
    let (status, refused) = act(&app, &id, "review", &review, "otto").await;
    assert_eq!(
        (status, refused["rule"].as_str()),
        (403, Some("role")),
        "{refused}"
    );
    let (status, body) = act(&app, &id, "review", &review, "lena").await;
    assert_eq!(status, 200, "{body}");
    let disclosed = wait_for(&app, &id, "awaiting_post_review").await;
    assert_eq!(disclosed["request"]["disclosed_by"], "lena");
    // The lead who approved it may not post-review it.
    let (status, refused) = act(
        &app,
        &id,
        "post-review",
        &json!({ "finding": "sound" }),
        "lena",
    )
    .await;
    assert_eq!(
        (status, refused["rule"].as_str()),
        (403, Some("distinct_from")),
        "{refused}"
    );
    let (status, body) = act(
        &app,
        &id,
        "post-review",
        &json!({ "finding": "sound", "reason": "documented" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = wait_for(&app, &id, "closed").await;
    assert_eq!(closed["request"]["outcome"], "disclosed");
    let kinds = timeline(&closed);
    assert_eq!(
        kinds,
        [
            "filed",
            "reviewed",
            "preserved",
            "package_built",
            "disclosed",
            "post_reviewed",
            "notice_sent",
            "closed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emergency_post_review_not_made_in_time_is_escalated_and_still_required() {
    let quick = AUTHORITY.replace(r#"expires_after = "48h""#, r#"expires_after = "1s""#);
    assert_ne!(quick, AUTHORITY);
    let (app, pool) = app_with(&quick).await;
    seed(&pool).await;
    let id = file(&app, &court_order("emergency")).await;
    wait_for(&app, &id, "awaiting_emergency_approval").await;
    let review =
        json!({ "verdict": "valid", "approved_scope": approved_scope(), "reason": "threat" });
    let (status, body) = act(&app, &id, "review", &review, "lena").await;
    assert_eq!(status, 200, "{body}");
    let overdue = wait_for(&app, &id, "post_review_overdue").await;
    assert!(timeline(&overdue).contains(&"post_review_overdue".to_owned()));
    let run = overdue["request"]["run_id"].as_str().unwrap().to_owned();
    // Still required: the run waits at the late post-review.
    app.wait_at_step(&run, "late_post_review").await;
    let (status, body) = act(
        &app,
        &id,
        "post-review",
        &json!({ "finding": "unsound", "reason": "no imminent threat shown" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = wait_for(&app, &id, "closed").await;
    let finding = closed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "post_reviewed")
        .unwrap();
    assert_eq!(finding["detail"]["finding"], "unsound");
    assert_eq!(finding["detail"]["step"], "late_post_review");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preservation_is_renewed_once_and_closes_when_its_hold_ends() {
    let quick = AUTHORITY.replace(r#"timeout = "1d""#, r#"timeout = "1s""#);
    assert_ne!(quick, AUTHORITY);
    let (app, pool) = app_with(&quick).await;
    let id = file(&app, &court_order("preservation")).await;
    wait_for(&app, &id, "in_review").await;
    let mut approved = approved_scope();
    approved["categories"] = json!(["message_statuses", "inbound_messages"]);
    let (status, body) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "valid", "approved_scope": approved, "reason": "2703(f) letter" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let preserving = wait_for(&app, &id, "preserving").await;
    let hold = preserving["request"]["hold_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let days = |pool: PgPool, hold: String| async move {
        let days: f64 = sqlx::query_scalar(
            "select extract(epoch from expires_at - placed_at)::float8 / 86400 from legal_holds where id = $1::uuid",
        )
        .bind(hold)
        .fetch_one(&pool)
        .await
        .unwrap();
        days.round() as i64
    };
    assert_eq!(days(pool.clone(), hold.clone()).await, 90);
    assert_eq!(
        preserving["package"],
        Value::Null,
        "a preservation produces nothing"
    );
    let (status, body) = act(&app, &id, "renewal", &json!({}), "fay").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(days(pool.clone(), hold.clone()).await, 180);
    let (status, again) = act(&app, &id, "renewal", &json!({}), "fay").await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["type"]
            .as_str()
            .unwrap()
            .ends_with("hold-already-renewed"),
        "{again}"
    );

    // The renewed period runs out (moved into the past here): the request closes.
    sqlx::query(
        "update legal_holds set expires_at = now() - interval '1 second' where id = $1::uuid",
    )
    .bind(&hold)
    .execute(&pool)
    .await
    .unwrap();
    let closed = wait_for(&app, &id, "closed").await;
    assert_eq!(closed["request"]["outcome"], "preserved");
    assert_eq!(
        timeline(&closed),
        [
            "filed",
            "reviewed",
            "preserved",
            "preservation_renewed",
            "closed"
        ]
    );
    assert_ne!(hold_status(&pool, &hold).await, "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nondisclosure_order_holds_the_notice_back_until_it_ends_then_it_is_sent_once() {
    let (app, pool) = app().await;
    seed(&pool).await;
    let mut body = court_order("court_order");
    let until = chrono::Utc::now() + chrono::Duration::seconds(4);
    body["nondisclosure"] = json!({ "ordered": true, "until": until });
    let id = file(&app, &body).await;
    wait_for(&app, &id, "in_review").await;
    let (status, reviewed) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "valid", "approved_scope": approved_scope() }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{reviewed}");
    wait_for(&app, &id, "awaiting_disclosure_approval").await;
    let (status, body) = act(
        &app,
        &id,
        "disclosure",
        &json!({ "decision": "approve" }),
        "lena",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let delayed = wait_for(&app, &id, "notice_delayed").await;
    assert_eq!(delayed["notices"][0]["status"], "scheduled", "{delayed}");
    let (_, notices) = app.get_as("/v1/notices", "shop_a").await;
    assert_eq!(
        notices["items"],
        json!([]),
        "nothing is shown before the order ends"
    );
    let closed = wait_for(&app, &id, "closed").await;
    assert_eq!(closed["notices"][0]["status"], "sent");
    let sent_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(closed["notices"][0]["sent_at"].clone()).unwrap();
    assert!(
        sent_at >= until,
        "sent at {sent_at}, the order ran until {until}"
    );
    let kinds = timeline(&closed);
    assert_eq!(
        kinds.iter().filter(|k| *k == "notice_sent").count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"notice_scheduled".to_owned()));
    let (_, notices) = app.get_as("/v1/notices", "shop_a").await;
    assert_eq!(notices["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_intake_is_refused_naming_the_field_and_stores_nothing() {
    let (app, _pool) = app().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = court_order("court_order");
                b["instrument"] = json!("letter_of_marque");
                b
            },
            "/instrument",
        ),
        (
            {
                let mut b = court_order("court_order");
                b["nondisclosure"] = json!({ "ordered": true, "until": "2020-01-01T00:00:00Z" });
                b
            },
            "/nondisclosure/until",
        ),
        (
            {
                let mut b = court_order("court_order");
                b["requested_scope"]["categories"] = json!(["gossip"]);
                b
            },
            "/requested_scope/categories/0",
        ),
        (
            {
                let mut b = court_order("court_order");
                b["requested_scope"] = json!({ "categories": ["message_statuses"] });
                b
            },
            "/requested_scope/workspaces",
        ),
        (
            {
                let mut b = court_order("court_order");
                b["requested_scope"]["workspaces"] = json!(["ws_nowhere"]);
                b
            },
            "/requested_scope/workspaces/0",
        ),
        (
            {
                let mut b = court_order("court_order");
                b["documents"][0]["sha256"] = json!("abc");
                b
            },
            "/documents/0/sha256",
        ),
    ];
    for (body, pointer) in cases {
        let (status, problem) = app.post_as("/v1/authority-requests", &body, "fay").await;
        assert_eq!(status, 422, "{pointer}: {problem}");
        let pointers: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(pointers.contains(&pointer), "{pointer}: {problem}");
    }
    assert_eq!(
        app.count("select count(*) from authority_requests").await,
        0
    );
    assert_eq!(
        app.count("select count(*) from authority_request_events")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_confined_to_a_workspace_and_other_roles_are_kept_out() {
    let (app, _pool) = app().await;
    app.create_key("officer_a", Role::ComplianceOfficer, Some("ws_a"))
        .await;
    let id = file(&app, &court_order("court_order")).await;
    let (status, _) = app
        .get_as(&format!("/v1/authority-requests/{id}"), "officer_a")
        .await;
    assert_eq!(status, 404);
    let (status, list) = app.get_as("/v1/authority-requests", "officer_a").await;
    assert_eq!((status, list["items"].clone()), (200, json!([])));
    let (status, problem) = app
        .post_as(
            "/v1/authority-requests",
            &court_order("court_order"),
            "officer_a",
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = app
        .get_as(
            &format!("/v1/authority-requests/{id}/evidence"),
            "officer_a",
        )
        .await;
    assert_eq!(status, 403);
    // An integrator or admin is not legal staff.
    let (status, _) = app.get(&format!("/v1/authority-requests/{id}")).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get_as(&format!("/v1/authority-requests/{id}"), "audra")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_transparency_report_counts_the_requests_received_in_the_half_year() {
    let (app, pool) = app().await;
    // Seeded records: (instrument, jurisdiction, received, outcome, narrowed, workspaces produced)
    let seeded = [
        (
            "court_order",
            "US-CA",
            "2026-07-10T00:00:00Z",
            Some("disclosed"),
            true,
            vec!["ws_a"],
        ),
        (
            "court_order",
            "US-CA",
            "2026-08-10T00:00:00Z",
            Some("rejected"),
            false,
            vec![],
        ),
        (
            "subpoena",
            "US-NY",
            "2026-09-10T00:00:00Z",
            Some("disclosed"),
            false,
            vec!["ws_a", "ws_b"],
        ),
        (
            "emergency",
            "DE",
            "2026-10-10T00:00:00Z",
            Some("disclosed"),
            true,
            vec!["ws_b"],
        ),
        ("warrant", "DE", "2026-11-10T00:00:00Z", None, false, vec![]),
        (
            "warrant",
            "DE",
            "2026-03-10T00:00:00Z",
            Some("disclosed"),
            false,
            vec!["ws_a"],
        ),
    ];
    for (n, (instrument, jurisdiction, received, outcome, narrowed, workspaces)) in
        seeded.iter().enumerate()
    {
        let id = uuid::Uuid::new_v4();
        let diff = if *narrowed {
            json!({ "workspaces": [], "customers": [INSIDE], "categories": [], "from": {}, "to": {} })
        } else {
            json!({ "workspaces": [], "customers": [], "categories": [], "from": {}, "to": {} })
        };
        sqlx::query(
            "insert into authority_requests (id, authority, jurisdiction, instrument, reference, received_at,
                 requested_scope, narrowed, nondisclosure_ordered, recipient, status, outcome, disclosed_at,
                 filed_by, closed_at)
             values ($1, 'agency', $2, $3, $4, $5::timestamptz, $6, $7, false, 'agency',
                     case when $8::text is null then 'in_review' else 'closed' end, $8,
                     case when $8 = 'disclosed' then now() end, 'fay',
                     case when $8::text is null then null else now() end)",
        )
        .bind(id)
        .bind(jurisdiction)
        .bind(instrument)
        .bind(format!("R-{n}"))
        .bind(received)
        .bind(json!({ "workspaces": ["ws_a", "ws_b"], "customers": [INSIDE], "categories": ["workspace_config"] }))
        .bind(diff)
        .bind(outcome)
        .execute(&pool)
        .await
        .unwrap();
        if *outcome == Some("disclosed") {
            sqlx::query("insert into authority_packages (request_id, manifest, sha256) values ($1, $2, 'x')")
                .bind(id)
                .bind(json!({ "workspaces": workspaces }))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    let (status, report) = app.get_as("/v1/transparency?period=2026-H2", "audra").await;
    assert_eq!(status, 200, "{report}");
    let total = &report["total"];
    assert_eq!(
        (
            total["received"].as_i64(),
            total["produced"].as_i64(),
            total["narrowed"].as_i64(),
            total["rejected"].as_i64(),
            total["emergency"].as_i64(),
            total["open"].as_i64()
        ),
        (Some(5), Some(3), Some(2), Some(1), Some(1), Some(1))
    );
    assert_eq!(total["produced_share_percent"], 60.0);
    assert_eq!(total["accounts_affected"], 2, "ws_a and ws_b");
    assert_eq!(
        total["accounts_requested"], 3,
        "two workspaces and a customer"
    );
    let group = |list: &Value, key: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key)
            .unwrap()["counts"]
            .clone()
    };
    assert_eq!(
        group(&report["by_instrument"], "court_order")["received"],
        2
    );
    assert_eq!(
        group(&report["by_instrument"], "court_order")["produced"],
        1
    );
    assert_eq!(
        group(&report["by_jurisdiction"], "DE")["received"],
        2,
        "the March warrant is in H1"
    );
    assert_eq!(group(&report["by_jurisdiction"], "DE")["emergency"], 1);

    let token = app.token("audra").await;
    let response = app
        .client
        .get(format!(
            "{}/v1/transparency?period=2026-H2&format=csv",
            app.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv");
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("period,group,key,received,produced"),
        "{csv}"
    );
    assert_eq!(lines[1], "2026-H2,total,all,5,3,60.0,2,1,1,1,3,2");
    assert!(
        lines.contains(&"2026-H2,instrument,court_order,2,1,50.0,1,1,0,0,3,1"),
        "{csv}"
    );

    let (status, problem) = app.get_as("/v1/transparency?period=2026-Q3", "audra").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "?period");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_while_packaging_leaves_one_package_one_hold_one_disclosure() {
    use bazaarstreet::app::Roles;

    use crate::helpers::{drop_database, fresh_database_url, spawn_app_on, write_files};
    const ROWS: i64 = 60_000;
    let database_url = fresh_database_url();
    let workflows = [("authority_request", AUTHORITY)];
    let dir = write_files(&workflows);
    let mut api = spawn_app_on(&database_url, &workflows, &[], Roles::Api).await;
    api.create_workspaces(&["ws_a", "ws_b"]).await;
    for (name, role) in [
        ("fay", Role::ComplianceOfficer),
        ("otto", Role::ComplianceOfficer),
        ("lena", Role::ComplianceLead),
    ] {
        api.create_key(name, role, None).await;
    }
    let pool = PgPool::connect(&database_url).await.unwrap();
    sqlx::query(
        "insert into message_statuses (message_id, workspace_id, recipient_id, status, updated_at)
         select 'crash.' || i, 'ws_a', $1, 'delivered', '2026-07-01T00:00:00Z'
         from generate_series(1, $2) i",
    )
    .bind(INSIDE)
    .bind(ROWS)
    .execute(&pool)
    .await
    .unwrap();
    let count = |query: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(query)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut doomed = crate::crash::process("worker", &database_url, dir.path())
        .spawn()
        .expect("worker starts");
    let id = file(&api, &court_order("court_order")).await;
    wait_for(&api, &id, "in_review").await;
    let review = json!({ "verdict": "valid", "approved_scope": approved_scope() });
    let (status, body) = act(&api, &id, "review", &review, "otto").await;
    assert_eq!(status, 200, "{body}");
    // Killed once the package is being built.
    wait_for(&api, &id, "packaging").await;
    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    assert_eq!(
        count("select count(*) from authority_packages").await,
        0,
        "killed before the package was stored"
    );

    let mut rescuer = crate::crash::process("worker", &database_url, dir.path())
        .spawn()
        .expect("worker starts");
    // The killed worker's attempt is taken over once its heartbeats stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, detail) = api
            .get_as(&format!("/v1/authority-requests/{id}"), "otto")
            .await;
        if detail["request"]["status"] == "awaiting_disclosure_approval" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the package was never built: {detail:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = act(
        &api,
        &id,
        "disclosure",
        &json!({ "decision": "approve" }),
        "lena",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = wait_for(&api, &id, "closed").await;
    assert_eq!(closed["package"]["manifest"]["files"][0]["rows"], ROWS);
    assert_eq!(
        timeline(&closed),
        [
            "filed",
            "reviewed",
            "preserved",
            "package_built",
            "disclosure_approved",
            "disclosed",
            "notice_sent",
            "closed"
        ]
    );
    assert_eq!(count("select count(*) from authority_packages").await, 1);
    assert_eq!(count("select count(*) from legal_holds").await, 1);
    assert_eq!(count("select count(*) from authority_notices").await, 1);
    rescuer.kill().ok();
    rescuer.wait().ok();
    drop(pool);
    api.stop_service().await;
    drop_database(&database_url).await;
}
