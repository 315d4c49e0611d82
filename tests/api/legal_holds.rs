//! Legal holds over the API: placing (and refusing bad holds, naming the field), reading
//! under the visibility rule, the preservation clock and its one renewal, expiry, and
//! release through a run that only a compliance lead other than the placer may approve.

use serde_json::{Value, json};

use bazaarstreet::security::Role;

use crate::helpers::{TestApp, spawn_app};

const RELEASE: &str = include_str!("../../workflows/legal_hold_release.toml");

async fn app() -> TestApp {
    let app = spawn_app(&[("legal_hold_release", RELEASE)]).await;
    app.create_workspaces(&["ws_a", "ws_b"]).await;
    for lead in ["lena", "leo"] {
        app.create_key(lead, Role::ComplianceLead, None).await;
    }
    app.create_key("olga", Role::ComplianceOfficer, None).await;
    app.create_key("a-officer", Role::ComplianceOfficer, Some("ws_a"))
        .await;
    app.create_key("integrator", Role::Integrator, None).await;
    app
}

fn litigation(scope: Value) -> Value {
    json!({
        "kind": "litigation",
        "scope": scope,
        "reason": "dispute over a cancelled booking",
        "matter_ref": "LIT-2026-014",
    })
}

async fn place(app: &TestApp, actor: &str, hold: &Value) -> Value {
    let (status, body) = app.post_as("/v1/legal-holds", hold, actor).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn held(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app
        .get_as(&format!("/v1/legal-holds/check?{query}"), "olga")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["held"],
        !body["hold_ids"].as_array().unwrap().is_empty()
    );
    body["hold_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_holds_are_refused_naming_the_field_and_store_nothing() {
    let app = app().await;
    let cases = [
        (litigation(json!({})), "/scope"),
        (
            litigation(json!({ "categories": ["run_records", "gossip"] })),
            "/scope/categories/1",
        ),
        (
            litigation(json!({ "customers": ["not a number"] })),
            "/scope/customers/0",
        ),
        (
            litigation(json!({
                "workspace_id": "ws_a",
                "from": "2026-06-01T00:00:00Z",
                "to": "2026-01-01T00:00:00Z",
            })),
            "/scope/from",
        ),
    ];
    for (hold, pointer) in cases {
        let (status, body) = app.post_as("/v1/legal-holds", &hold, "olga").await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            body["type"],
            "https://bazaarstreet.dev/problems/invalid-legal-hold"
        );
        assert_eq!(body["errors"][0]["pointer"], pointer, "{body}");
    }
    let mut preservation = litigation(json!({ "workspace_id": "ws_a" }));
    preservation["kind"] = json!("preservation");
    preservation["expires_at"] = json!("2099-01-01T00:00:00Z");
    let (status, body) = app.post_as("/v1/legal-holds", &preservation, "olga").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/expires_at");
    let (status, _) = app
        .post_as(
            "/v1/legal-holds",
            &litigation(json!({ "workspace_id": "ws_nope" })),
            "olga",
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_as(
            "/v1/legal-holds",
            &litigation(json!({ "workspace_id": "ws_a" })),
            "integrator",
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(app.count("select count(*) from legal_holds").await, 0);
    assert_eq!(
        app.count("select count(*) from audit_ledger where action like 'legal_hold.%'")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_answers_for_its_workspace_customers_categories_and_time_range() {
    let app = app().await;
    let by_customer = place(
        &app,
        "olga",
        &litigation(json!({ "customers": ["+49 151 1111111"] })),
    )
    .await;
    let by_scope = place(
        &app,
        "olga",
        &litigation(json!({
            "workspace_id": "ws_a",
            "categories": ["inbound_messages"],
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-06-30T00:00:00Z",
        })),
    )
    .await;
    assert_eq!(by_customer["scope"]["customers"], json!(["491511111111"]));
    assert_eq!(by_customer["status"], "active");
    assert_eq!(by_customer["placed_by"], "olga");
    let (customer, scope) = (
        by_customer["id"].as_str().unwrap().to_owned(),
        by_scope["id"].as_str().unwrap().to_owned(),
    );
    // The customer's records, of any workspace and category, whenever.
    assert_eq!(
        held(
            &app,
            "category=message_statuses&workspace_id=ws_b&customer=491511111111"
        )
        .await,
        [customer.as_str()]
    );
    // Both holds cover the customer's inbound message of ws_a in the range.
    let both = held(
        &app,
        "category=inbound_messages&workspace_id=ws_a&customer=491511111111&at=2026-03-01T00:00:00Z",
    )
    .await;
    assert_eq!(both.len(), 2);
    assert!(both.contains(&customer) && both.contains(&scope));
    // Outside the range, another category, another workspace: only what matches.
    assert!(
        held(
            &app,
            "category=inbound_messages&workspace_id=ws_a&at=2026-08-01T00:00:00Z"
        )
        .await
        .is_empty()
    );
    assert!(
        held(
            &app,
            "category=graph_call_records&workspace_id=ws_a&at=2026-03-01T00:00:00Z"
        )
        .await
        .is_empty()
    );
    assert!(
        held(
            &app,
            "category=inbound_messages&workspace_id=ws_b&at=2026-03-01T00:00:00Z"
        )
        .await
        .is_empty()
    );
    assert_eq!(
        held(
            &app,
            "category=inbound_messages&workspace_id=ws_a&at=2026-03-01T00:00:00Z"
        )
        .await,
        [scope.as_str()]
    );
    let (status, body) = app
        .get_as("/v1/legal-holds/check?category=gossip", "olga")
        .await;
    assert_eq!(status, 422, "{body}");
    // The ledger says a hold was placed, never whom it is about.
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'legal_hold.placed'")
            .await,
        2
    );
    assert_eq!(
        app.count("select count(*) from audit_ledger where data::text like '%1511111111%'")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confined_key_sees_and_places_holds_of_its_workspace_only() {
    let app = app().await;
    let theirs = place(&app, "olga", &litigation(json!({ "workspace_id": "ws_b" }))).await;
    let global = place(
        &app,
        "olga",
        &litigation(json!({ "customers": ["491522222222"] })),
    )
    .await;
    let own = place(
        &app,
        "a-officer",
        &litigation(json!({ "categories": ["run_records"] })),
    )
    .await;
    assert_eq!(own["scope"]["workspace_id"], "ws_a");
    for other in [&theirs, &global] {
        let (status, _) = app
            .get_as(
                &format!("/v1/legal-holds/{}", other["id"].as_str().unwrap()),
                "a-officer",
            )
            .await;
        assert_eq!(status, 404);
    }
    let (_, list) = app.get_as("/v1/legal-holds", "a-officer").await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own["id"].as_str().unwrap()]);
    let (_, list) = app
        .get_as("/v1/legal-holds?workspace_id=ws_b", "a-officer")
        .await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (status, _) = app
        .post_as(
            "/v1/legal-holds",
            &litigation(json!({ "workspace_id": "ws_b" })),
            "a-officer",
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.get_as("/v1/legal-holds", "olga").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preservation_hold_lasts_ninety_days_renews_once_and_then_expires() {
    let app = app().await;
    let mut hold = litigation(json!({ "workspace_id": "ws_a" }));
    hold["kind"] = json!("preservation");
    let hold = place(&app, "olga", &hold).await;
    let id = hold["id"].as_str().unwrap().to_owned();
    let expires = |hold: &Value| {
        chrono::DateTime::parse_from_rfc3339(hold["expires_at"].as_str().unwrap()).unwrap()
    };
    let placed = chrono::DateTime::parse_from_rfc3339(hold["placed_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires(&hold) - placed).num_days(), 90);
    let (status, renewed) = app
        .post_as(&format!("/v1/legal-holds/{id}/renew"), &json!({}), "olga")
        .await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!((expires(&renewed) - expires(&hold)).num_days(), 90);
    assert_eq!(renewed["renewals"], 1);
    let (status, body) = app
        .post_as(&format!("/v1/legal-holds/{id}/renew"), &json!({}), "olga")
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["type"],
        "https://bazaarstreet.dev/problems/hold-already-renewed"
    );
    let other = place(&app, "olga", &litigation(json!({ "workspace_id": "ws_a" }))).await;
    let (status, body) = app
        .post_as(
            &format!("/v1/legal-holds/{}/renew", other["id"].as_str().unwrap()),
            &json!({}),
            "olga",
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["type"],
        "https://bazaarstreet.dev/problems/hold-not-renewable"
    );
    assert_eq!(
        held(&app, "category=run_records&workspace_id=ws_a")
            .await
            .len(),
        2
    );

    // Its time runs out: it holds nothing at once, and is recorded as expired.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    sqlx::query(
        "update legal_holds set expires_at = now() - interval '1 second' where id = $1::uuid",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        held(&app, "category=run_records&workspace_id=ws_a").await,
        [other["id"].as_str().unwrap().to_owned()]
    );
    assert_eq!(
        bazaarstreet::lifecycle::holds::expire_due(&pool)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        bazaarstreet::lifecycle::holds::expire_due(&pool)
            .await
            .unwrap(),
        0
    );
    let (_, expired) = app.get_as(&format!("/v1/legal-holds/{id}"), "olga").await;
    assert_eq!(expired["status"], "expired");
    let (status, _) = app
        .post_as(
            &format!("/v1/legal-holds/{id}/release"),
            &json!({ "reason": "done" }),
            "olga",
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        app.count("select count(*) from audit_ledger where action in ('legal_hold.renewed', 'legal_hold.expired')")
            .await,
        2
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_is_released_only_with_a_lead_other_than_its_placer_and_the_asker() {
    let app = app().await;
    let hold = place(&app, "lena", &litigation(json!({ "workspace_id": "ws_a" }))).await;
    let id = hold["id"].as_str().unwrap().to_owned();
    let (status, release) = app
        .post_as(
            &format!("/v1/legal-holds/{id}/release"),
            &json!({ "reason": "the dispute settled" }),
            "olga",
        )
        .await;
    assert_eq!(status, 202, "{release}");
    let run = release["run"]["id"].as_str().unwrap().to_owned();
    assert_eq!(release["hold"]["release_run_id"], run.as_str());
    // A second request while one waits is refused.
    let (status, body) = app
        .post_as(
            &format!("/v1/legal-holds/{id}/release"),
            &json!({ "reason": "again" }),
            "olga",
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["type"],
        "https://bazaarstreet.dev/problems/release-pending"
    );
    app.wait_at_step(&run, "approve").await;
    let decide = |actor: &'static str| {
        let app = &app;
        let run = run.clone();
        async move {
            app.post_as(
                &format!("/v1/runs/{run}/steps/approve/decision"),
                &json!({ "decision": "approve", "reason": "settled" }),
                actor,
            )
            .await
        }
    };
    // The placer, the asker and an officer are refused, each by its rule.
    let (status, body) = decide("lena").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (403, Some("not_named")),
        "{body}"
    );
    let (status, body) = decide("olga").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (403, Some("role")),
        "{body}"
    );
    assert_eq!(
        held(&app, "category=run_records&workspace_id=ws_a").await,
        [id.as_str()]
    );
    let (status, body) = decide("leo").await;
    assert_eq!(status, 200, "{body}");
    app.wait_for_status(&run, "succeeded").await;
    let (_, released) = app.get_as(&format!("/v1/legal-holds/{id}"), "olga").await;
    assert_eq!(released["status"], "released");
    assert_eq!(released["released_by"], "leo");
    assert!(
        held(&app, "category=run_records&workspace_id=ws_a")
            .await
            .is_empty()
    );
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'legal_hold.released' and actor = 'leo'")
            .await,
        1
    );
    // The placer asking for a release cannot approve it either.
    let hold = place(&app, "lena", &litigation(json!({ "workspace_id": "ws_b" }))).await;
    let (_, release) = app
        .post_as(
            &format!("/v1/legal-holds/{}/release", hold["id"].as_str().unwrap()),
            &json!({ "reason": "no longer needed" }),
            "lena",
        )
        .await;
    let run = release["run"]["id"].as_str().unwrap().to_owned();
    app.wait_at_step(&run, "approve").await;
    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{run}/steps/approve/decision"),
            &json!({ "decision": "approve", "reason": "mine" }),
            "lena",
        )
        .await;
    assert_eq!(status, 403, "{body}");
    app.stop().await;
}
