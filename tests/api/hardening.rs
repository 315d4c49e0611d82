//! The findings of the attack on the running service, each as the attack that found it:
//! idempotency keys across workspaces and the scheduler's key space, closed workspaces,
//! workspaces that do not exist, the audit queue, NUL bodies under any content type,
//! metric labels, four eyes between people, and problem bodies for 414 and 431.

use std::str::FromStr;

use bazaarstreet::engine::background::schedule::{Schedule, start_tick};
use bazaarstreet::security::Role;
use serde_json::{Value, json};

use crate::fixtures::QUORUM_OF_TWO;
use crate::helpers::{TESTER, spawn_app};

const NOOP: &str = r#"
name = "noop"
version = 1
[[steps]]
id = "a"
kind = "task"
handler = "builtin.noop"
"#;

const OTHER: &str = r#"
name = "other"
version = 1
[[steps]]
id = "a"
kind = "task"
handler = "builtin.noop"
"#;

fn start(workflow: &str, workspace: Option<&str>, key: &str, input: Value) -> Value {
    let mut body = json!({ "workflow": workflow, "idempotency_key": key, "input": input });
    if let Some(workspace) = workspace {
        body["workspace_id"] = json!(workspace);
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_belong_to_their_workspace_and_workflow() {
    let app = spawn_app(&[("noop", NOOP), ("other", OTHER)]).await;
    app.create_workspaces(&["ws_a", "ws_b"]).await;
    app.create_key("a-crm", Role::Integrator, Some("ws_a"))
        .await;
    app.create_key("b-crm", Role::Integrator, Some("ws_b"))
        .await;
    let input = json!({ "order": 1001 });

    let (status, b_run) = app
        .post_as(
            "/v1/runs",
            &start("noop", None, "order-1001", input.clone()),
            "b-crm",
        )
        .await;
    assert_eq!(status, 201, "{b_run}");
    // ws_a's use of the same text is its own key: no 409, no oracle, a run of its own.
    let (status, a_run) = app
        .post_as(
            "/v1/runs",
            &start("noop", None, "order-1001", json!({ "order": 7 })),
            "a-crm",
        )
        .await;
    assert_eq!(status, 201, "{a_run}");
    assert_ne!(a_run["id"], b_run["id"]);
    assert_eq!(a_run["workspace_id"], "ws_a");
    // ws_b's retry still finds ws_b's run.
    let (status, again) = app
        .post_as(
            "/v1/runs",
            &start("noop", None, "order-1001", input.clone()),
            "b-crm",
        )
        .await;
    assert_eq!((status, &again["id"]), (200, &b_run["id"]));
    // An unconfined integrator naming ws_b gets ws_b's run, never ws_a's.
    let (status, named) = app
        .post(
            "/v1/runs",
            &start("noop", Some("ws_b"), "order-1001", input.clone()),
        )
        .await;
    assert_eq!((status, &named["id"]), (200, &b_run["id"]), "{named}");
    // Another workflow: another key.
    let (status, other) = app
        .post_as(
            "/v1/runs",
            &start("other", None, "order-1001", input.clone()),
            "b-crm",
        )
        .await;
    assert_eq!(status, 201, "{other}");
    // The same key with another input is a conflict, not someone else's run.
    let (status, conflict) = app
        .post_as(
            "/v1/runs",
            &start("noop", None, "order-1001", json!({ "order": 2 })),
            "b-crm",
        )
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(app.count("select count(*) from runs").await, 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_caller_can_take_a_schedule_tick_key() {
    let app = spawn_app(&[("noop", NOOP)]).await;
    let schedule = Schedule {
        name: "nightly".into(),
        cron_text: "0 0 3 * * *".into(),
        cron: cron::Schedule::from_str("0 0 3 * * *").unwrap(),
        timezone: chrono_tz::UTC,
        workflow: "noop".into(),
        input: json!({ "source": "cron" }),
    };
    let tick = chrono::Utc::now();
    // The attacker pre-creates the run the scheduler would start for this tick.
    let (status, planted) = app
        .post(
            "/v1/runs",
            &start(
                "noop",
                None,
                &schedule.tick_key(tick),
                json!({ "source": "cron" }),
            ),
        )
        .await;
    assert_eq!(status, 201, "{planted}");
    start_tick(&app.engine, &schedule, tick).await.unwrap();
    let scheduled: Vec<(String, String)> = {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query_as("select id::text, initiator from runs where idempotency_scope = 'service'")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    assert_eq!(scheduled.len(), 1, "the tick started its own run");
    assert_eq!(scheduled[0].1, "schedule:nightly");
    assert_ne!(scheduled[0].0, planted["id"].as_str().unwrap());
    // A second replica's start of the same tick finds the scheduler's run, not a new one.
    start_tick(&app.engine, &schedule, tick).await.unwrap();
    assert_eq!(app.count("select count(*) from runs").await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_workspace_takes_no_work_until_an_admin_reopens_it() {
    let onboarding = std::fs::read_to_string("workflows/onboarding.toml").unwrap();
    let app = spawn_app(&[("noop", NOOP), ("onboarding", onboarding.as_str())]).await;
    app.create_workspaces(&["ws_c"]).await;
    app.create_key("c-crm", Role::Integrator, Some("ws_c"))
        .await;
    app.create_key("c-admin", Role::Admin, Some("ws_c")).await;
    let (status, _) = app.delete_as("/v1/workspaces/ws_c", TESTER).await;
    assert_eq!(status, 200);
    let runs_before = app.count("select count(*) from runs").await;

    let attempts = [
        ("/v1/runs", json!({ "workflow": "noop" })),
        (
            "/v1/workspaces/ws_c/templates",
            json!({
                "name": "hello", "language": "en_US", "category": "UTILITY",
                "components": [{ "type": "BODY", "text": "Hi {{1}}." }], "examples": ["Ana"]
            }),
        ),
        (
            "/v1/workspaces/ws_c/onboarding",
            json!({ "code": "AQBfresh", "pin": "123456" }),
        ),
    ];
    for (path, body) in &attempts {
        let (status, answer) = app.post_as(path, body, "c-crm").await;
        assert_eq!(status, 409, "{path}: {answer}");
        assert_eq!(
            answer["type"], "https://bazaarstreet.dev/problems/workspace-closed",
            "{answer}"
        );
    }
    assert_eq!(app.count("select count(*) from runs").await, runs_before);
    assert_eq!(
        app.count("select count(*) from whatsapp_templates").await,
        0
    );
    assert_eq!(
        app.count("select count(*) from onboarding_secrets").await,
        0
    );
    let (_, ws) = app.get("/v1/workspaces/ws_c").await;
    assert_eq!(ws["status"], "closed");

    // The workspace's own keys cannot reopen it; an admin of every workspace can.
    let reopen = json!({ "reason": "closed by mistake" });
    for key in ["c-crm", "c-admin"] {
        let (status, _) = app
            .post_as("/v1/workspaces/ws_c/reopen", &reopen, key)
            .await;
        assert_eq!(status, 403, "{key}");
    }
    let (status, reopened) = app.post("/v1/workspaces/ws_c/reopen", &reopen).await;
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["status"], "disconnected");
    let (status, _) = app.post("/v1/workspaces/ws_c/reopen", &reopen).await;
    assert_eq!(status, 409, "only a closed workspace reopens");
    let (_, audit) = app.get("/v1/audit?action=workspace.reopened").await;
    assert_eq!(audit["items"][0]["actor"], TESTER);
    assert!(
        !audit.to_string().contains("by mistake"),
        "free text stays out of the ledger"
    );
    let (status, _) = app
        .post_as("/v1/runs", &json!({ "workflow": "noop" }), "c-crm")
        .await;
    assert_eq!(status, 201, "a reopened workspace takes work again");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_and_runs_can_only_name_workspaces_that_exist() {
    let app = spawn_app(&[("noop", NOOP)]).await;
    let (status, answer) = app
        .post(
            "/v1/keys",
            &json!({ "name": "ghost-ws-key", "role": "integrator", "workspace_id": "ws_future" }),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "noop", "workspace_id": "ws_does_not_exist" }),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        answer["type"],
        "https://bazaarstreet.dev/problems/workspace-not-found"
    );
    assert_eq!(app.count("select count(*) from runs").await, 0);
    assert_eq!(
        app.count("select count(*) from api_keys where name = 'ghost-ws-key'")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_kept_from_the_chain_fails_verification() {
    let app = spawn_app(&[("noop", NOOP)]).await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    // The queue refuses to lose an entry that is not chained, and cannot be emptied.
    let mut tx = pool.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "insert into audit_ledger (at, actor, action, subject, data)
         values (now(), 'mallory', 'key.created', 'key:x', '{}') returning id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query("insert into audit_unchained (entry_id) values ($1)")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    for refused in [
        "delete from audit_unchained",
        "update audit_unchained set entry_id = entry_id",
        "truncate audit_unchained",
    ] {
        sqlx::query("savepoint s").execute(&mut *tx).await.unwrap();
        let error = sqlx::query(refused).execute(&mut *tx).await.unwrap_err();
        assert!(error.to_string().contains("refused"), "{refused}: {error}");
        sqlx::query("rollback to savepoint s")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Behind the triggers' back (a superuser), the entry leaves the queue unchained.
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("delete from audit_unchained where entry_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;

    let (_, listed) = app.get("/v1/audit?actor=mallory").await;
    assert_eq!(listed["items"], json!([]), "the hidden entry is not listed");
    let (status, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(status, 200);
    assert_eq!(verify["intact"], false, "{verify}");
    assert_eq!(verify["unchained"], 1, "{verify}");
    assert!(
        verify["reason"]
            .as_str()
            .unwrap()
            .contains("neither chained"),
        "{verify}"
    );
    // A confined auditor learns that it does not hold, and no figures.
    app.create_workspaces(&["ws_a"]).await;
    app.create_key("a-auditor", Role::Auditor, Some("ws_a"))
        .await;
    let (_, confined) = app.get_as("/v1/audit/verify", "a-auditor").await;
    assert_eq!(confined["intact"], false);
    assert!(confined.get("checked").is_none() && confined.get("unchained").is_none());
    let (status, _) = app.get_as("/v1/audit/head", "a-auditor").await;
    assert_eq!(status, 403, "the head counts every workspace's entries");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nul_is_refused_whatever_the_content_type_says() {
    let app = spawn_app(&[("noop", NOOP)]).await;
    let token = app.token(TESTER).await;
    for content_type in [
        "application/JSON",
        "Application/Json; charset=utf-8",
        "text/plain",
    ] {
        for (path, body) in [
            (
                "/v1/runs",
                r#"{"workflow":"noop","input":{"customer":"a\u0000b"}}"#,
            ),
            ("/v1/workspaces", r#"{"name":"a\u0000b"}"#),
        ] {
            let response = app
                .client
                .post(format!("{}{path}", app.address))
                .bearer_auth(&token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 500, "{content_type} {path}: {answer}");
            assert!(
                matches!(status, 400 | 415 | 422),
                "{content_type} {path}: {status} {answer}"
            );
        }
    }
    assert_eq!(app.count("select count(*) from runs").await, 0);
    assert_eq!(app.count("select count(*) from workspaces").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_labels_are_bounded() {
    let app = spawn_app(&[("noop", NOOP)]).await;
    for n in 0..40 {
        let method = reqwest::Method::from_bytes(format!("X{n}").as_bytes()).unwrap();
        app.client
            .request(method, format!("{}/v1/runs", app.address))
            .send()
            .await
            .unwrap();
    }
    app.get("/v1/audit/head").await;
    let (_, text) = {
        let response = app
            .client
            .get(format!("{}/metrics", app.address))
            .bearer_auth(app.token(TESTER).await)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    let series: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("bazaarstreet_http_requests_total{"))
        .collect();
    assert!(
        series.iter().all(|line| !line.contains("method=\"X")),
        "{series:#?}"
    );
    assert!(series.iter().any(|line| line.contains("method=\"other\"")));
    assert!(
        series
            .iter()
            .any(|line| line.contains("route=\"/v1/audit/head\"")),
        "{series:#?}"
    );
    app.stop().await;
}

#[test]
fn every_operation_is_counted_under_its_own_route() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    for path in document["paths"].as_object().unwrap().keys() {
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(
            bazaarstreet::metrics::route_of(&concrete),
            path,
            "{concrete}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn separation_of_duties_compares_people_not_keys() {
    let app = spawn_app(&[("quorum", QUORUM_OF_TWO)]).await;
    let tester_person = {
        let (_, keys) = app.get("/v1/keys").await;
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["name"] == TESTER)
            .unwrap()["person_id"]
            .clone()
    };
    // The admin gives themselves an officer key: it waits for another admin.
    let (status, alt) = app
        .post(
            "/v1/keys",
            &json!({ "name": "admin-alt-officer", "role": "compliance_officer",
                     "person_id": tester_person }),
        )
        .await;
    assert_eq!(status, 201, "{alt}");
    assert_eq!(alt["key"]["status"], "pending_approval");
    assert_eq!(alt["key"]["person"], TESTER);
    app.keep_token("admin-alt-officer", alt["token"].as_str().unwrap());
    let (status, _) = app.get_as("/v1/approvals", "admin-alt-officer").await;
    assert_eq!(status, 401, "a pending key authenticates nothing");
    let alt_id = alt["key"]["id"].as_str().unwrap();
    let approve = format!("/v1/keys/{alt_id}/approve");
    let (status, refused) = app.post(&approve, &json!({})).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["type"],
        "https://bazaarstreet.dev/problems/separation-of-duties"
    );
    app.create_key("second-admin", Role::Admin, None).await;
    let (status, approved) = app.post_as(&approve, &json!({}), "second-admin").await;
    assert_eq!((status, &approved["status"]), (200, &json!("active")));

    // The admin starts a run; their officer key is still them: not_initiator refuses it.
    let run = app.start("quorum", json!({})).await;
    app.wait_at_step(&run, "review").await;
    let decision = format!("/v1/runs/{run}/steps/review/decision");
    let body = json!({ "decision": "approve", "reason": "ok" });
    let (status, refused) = app.post_as(&decision, &body, "admin-alt-officer").await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["rule"], "not_initiator");

    // One person, one vote: two keys of one officer do not make a quorum of two.
    app.create_key("dana", Role::ComplianceOfficer, None).await;
    let (_, keys) = app.get("/v1/keys").await;
    let dana = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == "dana")
        .unwrap()["person_id"]
        .clone();
    let (status, second_key) = app
        .post_as(
            "/v1/keys",
            &json!({ "name": "dana-laptop", "role": "compliance_officer", "person_id": dana }),
            "second-admin",
        )
        .await;
    assert_eq!(status, 201);
    app.keep_token("dana-laptop", second_key["token"].as_str().unwrap());
    let key_id = second_key["key"]["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/v1/keys/{key_id}/approve"), &json!({}))
        .await;
    assert_eq!(status, 200, "another admin than its maker approves it");
    let (status, _) = app.post_as(&decision, &body, "dana").await;
    assert_eq!(status, 200);
    let (status, again) = app.post_as(&decision, &body, "dana-laptop").await;
    assert_eq!(status, 409, "{again}");
    let (_, run_view) = app.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(
        run_view["status"], "waiting",
        "the quorum of two is not reached"
    );

    // The service's own names (422) and what the document's pattern excludes (400:
    // `:`, look-alikes, direction overrides, capitals) are refused as names.
    for (name, refused) in [
        ("engine", 422),
        ("bootstrap", 422),
        ("cli", 422),
        ("schedule:tick", 400),
        ("admin\u{202e}", 400),
        ("аdmin", 400),
        ("Meta", 400),
    ] {
        let (status, answer) = app
            .post("/v1/keys", &json!({ "name": name, "role": "auditor" }))
            .await;
        assert_eq!(status, refused, "{name:?}: {answer}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_long_targets_and_headers_get_problem_bodies() {
    let app = spawn_app(&[("noop", NOOP)]).await;
    let long = format!("{}/v1/runs?workflow={}", app.address, "a".repeat(9_000));
    let response = app.client.get(long).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 414);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://bazaarstreet.dev/problems/uri-too-long"
    );

    let mut request = app.client.get(format!("{}/healthz", app.address));
    for n in 0..150 {
        request = request.header(format!("x-filler-{n}"), "1");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 431);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://bazaarstreet.dev/problems/headers-too-large"
    );
    app.stop().await;
}
