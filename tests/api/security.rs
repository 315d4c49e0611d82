//! Keys, roles, workspaces, the approval policy and the audit ledger, over HTTP.

use bazaarstreet::security::Role;
use bazaarstreet::security::{audit, keys};
use serde_json::{Value, json};

use crate::helpers::{TESTER, TestApp, read, spawn_app};

const REVIEW: &str = r#"
name = "review"
version = 1
[[steps]]
id = "first_review"
kind = "approval"
roles = ["compliance_officer"]
[[steps]]
id = "second_review"
kind = "approval"
roles = ["compliance_officer", "compliance_lead"]
distinct_from = ["first_review"]
[[steps]]
id = "done"
kind = "task"
handler = "builtin.noop"
"#;

fn decision(path_run: &str, step: &str) -> String {
    format!("/v1/runs/{path_run}/steps/{step}/decision")
}

fn approve() -> Value {
    json!({ "decision": "approve", "reason": "checked" })
}

fn assert_problem(body: &Value, status: u16, kind: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://bazaarstreet.dev/problems/{kind}"),
        "{body}"
    );
}

async fn raw_get(app: &TestApp, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    read(request.send().await.expect("request sent")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_valid_key_are_401_problems() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    for authorization in [
        None,
        Some("Bearer bzs_00112233445566778899aabbccddeeff0011223344556677"),
        Some("Bearer not-a-token' or '1'='1"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer "),
    ] {
        let (status, body) = raw_get(&app, "/v1/runs", authorization).await;
        assert_eq!(status, 401, "{authorization:?}: {body}");
        assert_problem(&body, 401, "unauthorized");
    }
    // Health, readiness and the document stay open.
    assert_eq!(raw_get(&app, "/healthz", None).await.0, 200);
    assert_eq!(raw_get(&app, "/openapi.json", None).await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_stops_working_at_once() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    let (status, created) = app
        .post("/v1/keys", &json!({ "name": "crm", "role": "integrator" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    assert_eq!(raw_get(&app, "/v1/runs", Some(&bearer)).await.0, 200);

    let (_, listed) = app.get("/v1/keys").await;
    assert!(
        !listed.to_string().contains(&token),
        "a listing shows a token"
    );
    let id = created["key"]["id"].as_str().unwrap();
    let (status, revoked) = app.delete_as(&format!("/v1/keys/{id}"), TESTER).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = raw_get(&app, "/v1/runs", Some(&bearer)).await;
    assert_eq!(status, 401, "{body}");
    // Revoking again: there is no live key of that id.
    assert_eq!(
        app.delete_as(&format!("/v1/keys/{id}"), TESTER).await.0,
        404
    );

    // The token never reaches the audit ledger.
    let (_, audit) = app.get("/v1/audit?action=key.created").await;
    assert!(!audit.to_string().contains(&token));
    assert!(audit.to_string().contains("crm"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_limit_what_a_key_may_do() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    app.create_key("auditor-1", Role::Auditor, None).await;
    app.create_key("crm", Role::Integrator, None).await;

    let (status, body) = app
        .post_as("/v1/runs", &json!({ "workflow": "review" }), "auditor-1")
        .await;
    assert_eq!(status, 403, "{body}");
    assert_problem(&body, 403, "forbidden");
    assert_eq!(app.get_as("/v1/runs", "auditor-1").await.0, 200);
    assert_eq!(app.get_as("/v1/audit", "auditor-1").await.0, 200);
    assert_eq!(app.get_as("/v1/audit", "crm").await.0, 403);
    assert_eq!(app.get_as("/v1/keys", "crm").await.0, 403);
    let (status, _) = app
        .post_as("/v1/keys", &json!({ "name": "x", "role": "admin" }), "crm")
        .await;
    assert_eq!(status, 403);
    assert_eq!(app.count("select count(*) from runs").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_workspace_looks_like_nothing_at_all() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    app.create_workspaces(&["ws_acme", "ws_globex"]).await;
    app.create_key("acme-crm", Role::Integrator, Some("ws_acme"))
        .await;
    app.create_key("globex-crm", Role::Integrator, Some("ws_globex"))
        .await;
    app.create_key("globex-officer", Role::ComplianceOfficer, Some("ws_globex"))
        .await;

    let (status, run) = app
        .post_as("/v1/runs", &json!({ "workflow": "review" }), "acme-crm")
        .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(
        run["workspace_id"], "ws_acme",
        "a scoped key starts runs in its workspace"
    );
    let id = run["id"].as_str().unwrap();
    app.wait_at_step(id, "first_review").await;

    let (status, body) = app.get_as(&format!("/v1/runs/{id}"), "globex-crm").await;
    assert_eq!(status, 404, "{body}");
    assert_problem(&body, 404, "run-not-found");
    let unknown = uuid::Uuid::now_v7();
    let (_, missing) = app
        .get_as(&format!("/v1/runs/{unknown}"), "globex-crm")
        .await;
    assert_eq!(
        body["detail"].as_str().unwrap().replace(id, "ID"),
        missing["detail"]
            .as_str()
            .unwrap()
            .replace(&unknown.to_string(), "ID"),
        "another workspace's run must look exactly like a missing one"
    );
    let (_, listed) = app.get_as("/v1/runs", "globex-crm").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let (_, listed) = app
        .get_as("/v1/runs?workspace_id=ws_acme", "globex-crm")
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let (status, _) = app
        .post_as(&decision(id, "first_review"), &approve(), "globex-officer")
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_as(
            &format!("/v1/runs/{id}/cancel"),
            &json!({ "reason": "x" }),
            "globex-crm",
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_as(
            "/v1/runs",
            &json!({ "workflow": "review", "workspace_id": "ws_acme" }),
            "globex-crm",
        )
        .await;
    assert_eq!(status, 404);
    let (_, approvals) = app.get_as("/v1/approvals", "globex-officer").await;
    assert_eq!(approvals["items"].as_array().unwrap().len(), 0);
    // The owner still sees and changes it.
    assert_eq!(
        app.get_as(&format!("/v1/runs/{id}"), "acme-crm").await.0,
        200
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_approval_policy_refuses_by_rule_and_the_refusal_is_audited() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    app.create_key("starter", Role::ComplianceOfficer, None)
        .await;
    app.create_key("crm", Role::Integrator, None).await;
    app.create_key("lead", Role::ComplianceLead, None).await;
    let (_, run) = app
        .post_as("/v1/runs", &json!({ "workflow": "review" }), "starter")
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    app.wait_at_step(&id, "first_review").await;

    // The initiator may not approve their own run.
    let (status, body) = app
        .post_as(&decision(&id, "first_review"), &approve(), "starter")
        .await;
    assert_eq!(status, 403, "{body}");
    assert_problem(&body, 403, "approval-policy");
    assert_eq!(body["rule"], "not_initiator");
    // A role the step does not name.
    let (status, body) = app
        .post_as(&decision(&id, "first_review"), &approve(), "crm")
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (403, Some("role")),
        "{body}"
    );
    let (status, body) = app
        .post_as(&decision(&id, "first_review"), &approve(), TESTER)
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (403, Some("role")),
        "admins are not approvers: {body}"
    );

    let (_, open) = app.get_as("/v1/approvals", "officer-a").await;
    assert_eq!(open["items"][0]["step_id"], "first_review", "{open}");
    let (_, open) = app.get_as("/v1/approvals", "starter").await;
    assert_eq!(open["items"].as_array().unwrap().len(), 0, "{open}");

    let (status, body) = app
        .post_as(&decision(&id, "first_review"), &approve(), "officer-a")
        .await;
    assert_eq!(status, 200, "{body}");
    app.wait_at_step(&id, "second_review").await;
    // Four eyes: whoever decided the first review may not decide the second.
    let (status, body) = app
        .post_as(&decision(&id, "second_review"), &approve(), "officer-a")
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (403, Some("distinct_from")),
        "{body}"
    );
    let (_, open) = app.get_as("/v1/approvals", "officer-a").await;
    assert_eq!(open["items"].as_array().unwrap().len(), 0, "{open}");
    let (status, body) = app
        .post_as(&decision(&id, "second_review"), &approve(), "lead")
        .await;
    assert_eq!(status, 200, "{body}");
    app.wait_for_status(&id, "succeeded").await;

    // Every refusal is in the ledger with its rule; the chain is intact.
    let (_, refused) = app
        .get(&format!(
            "/v1/audit?action=decision.refused&subject=run:{id}"
        ))
        .await;
    let mut rules: Vec<&str> = refused["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["data"]["rule"].as_str().unwrap())
        .collect();
    rules.sort();
    assert_eq!(rules, ["distinct_from", "not_initiator", "role", "role"]);
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_vote_by_the_same_person_is_a_409() {
    let workflow = r#"
name = "pair"
version = 1
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
quorum = 2
"#;
    let app = spawn_app(&[("pair", workflow)]).await;
    let id = app.start("pair", json!({})).await;
    app.wait_at_step(&id, "review").await;
    assert_eq!(
        app.post_as(&decision(&id, "review"), &approve(), "ana")
            .await
            .0,
        200
    );
    let (status, body) = app
        .post_as(&decision(&id, "review"), &approve(), "ana")
        .await;
    assert_eq!(status, 409, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_headers_are_refused_without_a_server_error() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    let huge = format!("Bearer bzs_{}", "a".repeat(200_000));
    let response = app
        .client
        .get(format!("{}/v1/runs", app.address))
        .header("authorization", huge)
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            assert!(matches!(status, 400 | 401 | 431), "status {status}");
        }
        // The server may close the connection on an oversized head; that is not a 5xx.
        Err(error) => assert!(error.is_request() || error.is_connect() || error.is_body()),
    }
    assert_eq!(app.get("/v1/runs").await.0, 200, "the service is still up");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_refuses_changes_and_verify_names_a_row_altered_behind_its_back() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    for _ in 0..3 {
        app.start("review", json!({})).await;
    }
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    // At least one entry per run start (each run's start is one change).
    let checked = verify["checked"].as_i64().unwrap();
    assert!(checked >= 3, "{verify}");

    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    for refused in [
        "update audit_ledger set actor = 'mallory'
         where id = (select entry_id from audit_chain where seq = 2)",
        "delete from audit_ledger where id = (select entry_id from audit_chain where seq = 2)",
        "update audit_chain set hash = prev_hash where seq = 2",
        "delete from audit_chain where seq = 2",
        "truncate audit_chain",
    ] {
        let outcome = sqlx::query(refused).execute(&pool).await;
        assert!(outcome.is_err(), "got through the triggers: {refused}");
    }

    // Behind the triggers' back (as a superuser could): the chain shows it.
    let reason = tamper_and_verify(
        &app,
        &pool,
        "alter table audit_ledger disable trigger audit_ledger_append_only;
         update audit_ledger set data = '{\"forged\": true}'
         where id = (select entry_id from audit_chain where seq = 3);
         alter table audit_ledger enable trigger audit_ledger_append_only;",
        3,
    )
    .await;
    assert!(reason.contains("content"), "{reason}");

    // A link taken out of the chain is a gap where it was.
    let reason = tamper_and_verify(
        &app,
        &pool,
        "alter table audit_chain disable trigger audit_chain_append_only;
         delete from audit_chain where seq = 2;
         alter table audit_chain enable trigger audit_chain_append_only;",
        3,
    )
    .await;
    assert!(reason.contains("missing"), "{reason}");
    pool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_head_shows_a_chain_rewritten_consistently_behind_the_ledgers_back() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    for _ in 0..2 {
        app.start("review", json!({})).await;
    }
    let (status, head) = app.get("/v1/audit/head").await;
    assert_eq!(status, 200, "{head}");
    let seq = head["seq"].as_i64().unwrap();
    assert!(seq >= 2, "{head}");
    let (_, page) = app
        .get(&format!("/v1/audit?cursor={}&limit=1", seq + 1))
        .await;
    assert_eq!(page["items"][0]["seq"], seq, "{page}");
    assert_eq!(
        page["items"][0]["hash"], head["hash"],
        "the head is the last entry"
    );
    app.start("review", json!({})).await;
    let (_, later) = app.get("/v1/audit/head").await;
    assert!(later["seq"].as_i64().unwrap() > seq, "{later}");

    // A superuser edits entry 1 and recomputes every later link: verification holds...
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let rows = bazaarstreet::store::audit::page_for_verify(&mut conn, 0, 1_000)
        .await
        .unwrap();
    sqlx::raw_sql(
        "alter table audit_ledger disable trigger audit_ledger_append_only;
         alter table audit_chain disable trigger audit_chain_append_only;",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let mut prev = audit::GENESIS_HASH.to_vec();
    for mut row in rows {
        if row.seq == 1 {
            row.entry.data = json!({ "forged": true });
            sqlx::query(
                "update audit_ledger set data = $1
                 where id = (select entry_id from audit_chain where seq = 1)",
            )
            .bind(&row.entry.data)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        let hash = audit::link_of(row.link, &prev, audit::LinkInput::Entry(&row.entry)).unwrap();
        sqlx::query("update audit_chain set prev_hash = $1, hash = $2 where seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(row.seq)
            .execute(&mut *conn)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("update audit_head set hash = $1")
        .bind(&prev)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    pool.close().await;
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");

    // ...but the head recorded earlier no longer matches its position.
    let (_, page) = app
        .get(&format!("/v1/audit?cursor={}&limit=1", seq + 1))
        .await;
    assert_ne!(page["items"][0]["hash"], head["hash"], "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_never_fork_the_chain() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let pool = app.engine.pool().clone();
            tokio::spawn(async move {
                for n in 0..25 {
                    let request = keys::KeyRequest {
                        name: format!("writer-{writer}-{n}"),
                        role: Role::Auditor,
                        workspace_id: None,
                        person_id: None,
                    };
                    keys::create(&pool, &request, keys::Administrator::Operator("cli"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    let entries = app.count("select count(*) from audit_ledger").await;
    let max_seq = app.count("select max(seq) from audit_chain").await;
    assert_eq!(entries, max_seq, "sequence numbers have gaps or duplicates");
    assert!(entries >= 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_creates_one_admin_key() {
    let app = spawn_app(&[]).await;
    // spawn_app created no key yet; the service's bootstrap creates exactly one.
    let first = keys::bootstrap_admin(app.engine.pool()).await.unwrap();
    let (key, token) = first.expect("an admin key on an empty key table");
    assert_eq!(key.role, "admin");
    assert!(
        keys::bootstrap_admin(app.engine.pool())
            .await
            .unwrap()
            .is_none()
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(raw_get(&app, "/v1/keys", Some(&bearer)).await.0, 200);
    app.stop().await;
}

/// Runs `tampering` and answers why verification now fails, checking it fails at
/// `broken_seq`.
async fn tamper_and_verify(
    app: &TestApp,
    pool: &sqlx::PgPool,
    tampering: &'static str,
    broken_seq: i64,
) -> String {
    sqlx::raw_sql(tampering).execute(pool).await.unwrap();
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], false, "{verify}");
    assert_eq!(verify["first_broken_seq"], broken_seq, "{verify}");
    verify["reason"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_pages_by_cursor_and_scoped_auditors_see_their_workspace_only() {
    let app = spawn_app(&[("review", REVIEW)]).await;
    app.create_workspaces(&["ws_acme"]).await;
    app.create_key("acme-crm", Role::Integrator, Some("ws_acme"))
        .await;
    app.create_key("acme-auditor", Role::Auditor, Some("ws_acme"))
        .await;
    app.post_as("/v1/runs", &json!({ "workflow": "review" }), "acme-crm")
        .await;
    app.start("review", json!({})).await; // no workspace

    let mut seen = Vec::new();
    let mut path = "/v1/audit?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for entry in page["items"].as_array().unwrap() {
            seen.push(entry["seq"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/audit?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected = seen.clone();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(seen, expected, "pages overlap or are out of order");
    assert_eq!(*seen.last().unwrap(), 1, "pagination stopped early");

    let (_, scoped) = app.get_as("/v1/audit?limit=500", "acme-auditor").await;
    let entries = scoped["items"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|entry| entry["workspace_id"] == "ws_acme"),
        "{scoped}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_managed_from_the_command_line() {
    let app = spawn_app(&[]).await;
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bazaarstreet"))
            .args(args)
            .env("BAZAARSTREET_DATABASE_URL", &app.database_url)
            .env("BAZAARSTREET_LOG", "warn")
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let created = cli(&[
        "keys",
        "create",
        "--name",
        "ops-auditor",
        "--role",
        "auditor",
    ]);
    let token = created
        .lines()
        .find_map(|line| line.split(": ").nth(1).filter(|t| t.starts_with("bzs_")))
        .expect("the token is printed")
        .to_owned();
    let id = created.split_whitespace().nth(2).unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    assert_eq!(raw_get(&app, "/v1/audit", Some(&bearer)).await.0, 200);

    let listed = cli(&["keys", "list"]);
    assert!(
        listed.contains("ops-auditor") && !listed.contains(&token),
        "{listed}"
    );
    cli(&["keys", "revoke", &id]);
    assert_eq!(raw_get(&app, "/v1/audit", Some(&bearer)).await.0, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operational_endpoints_can_be_closed_to_anonymous_callers() {
    let app = crate::helpers::spawn_app_adjusted(
        &crate::helpers::fresh_database_url(),
        &[],
        &[],
        bazaarstreet::app::Roles::All,
        |settings| settings.open_paths = vec!["/healthz".to_owned()],
    )
    .await;
    assert_eq!(raw_get(&app, "/healthz", None).await.0, 200);
    for path in ["/metrics", "/openapi.json", "/readyz", "/docs/"] {
        let (status, body) = raw_get(&app, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let bearer = format!("Bearer {}", app.token(TESTER).await);
    assert_eq!(raw_get(&app, "/metrics", Some(&bearer)).await.0, 200);
    assert_eq!(raw_get(&app, "/openapi.json", Some(&bearer)).await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_key_sees_only_its_own_workspace() {
    let app = spawn_app(&[]).await;
    for id in ["ws_one", "ws_two"] {
        assert_eq!(
            app.post("/v1/workspaces", &json!({ "name": id, "id": id }))
                .await
                .0,
            201
        );
    }
    app.create_key("one-crm", Role::Integrator, Some("ws_one"))
        .await;
    let (_, listed) = app.get_as("/v1/workspaces", "one-crm").await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ws_one"]);
    let (status, body) = app.get_as("/v1/workspaces/ws_two", "one-crm").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app
        .post_as(
            "/v1/workspaces/ws_two/onboarding",
            &json!({ "code": "AQx", "pin": "123456" }),
            "one-crm",
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_as("/v1/workspaces", &json!({ "name": "mine" }), "one-crm")
        .await;
    assert_eq!(status, 403, "a confined key cannot create workspaces");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_id_is_parsed_where_it_enters() {
    let app = spawn_app(&[]).await;
    let (status, body) = app
        .post(
            "/v1/workspaces",
            &json!({ "name": "Bad", "id": "ws bad/../x" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_problem(&body, 422, "invalid-workspace");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("is not a workspace id"),
        "{body}"
    );
    let (_, listed) = app.get("/v1/workspaces").await;
    assert_eq!(listed["items"], json!([]), "nothing was created: {listed}");
    // Nor does a run's: no run starts in it.
    let (status, body) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "none", "workspace_id": "ws bad" }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_problem(&body, 404, "workspace-not-found");
    // A path that cannot name a workspace names none.
    for path in [
        "/v1/workspaces/ws%20bad",
        "/v1/workspaces/ws%20bad/templates",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_problem(&body, 404, "workspace-not-found");
    }
    app.stop().await;
}
