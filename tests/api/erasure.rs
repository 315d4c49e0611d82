//! The erasure engine over seeded data in every category a customer's records reach:
//! after erasing a customer, their number and name appear in no text, JSON or array column
//! of the database, the audit chain still verifies, a held customer's records stay with
//! the hold named in the receipts, and an export finds a customer's records table by table.

use serde_json::json;
use sqlx::{PgPool, Row};

use bazaarstreet::lifecycle::erasure::{self, Receipt, Subject};
use bazaarstreet::lifecycle::purge::PurgeSettings;
use bazaarstreet::security::Role;

use crate::fixtures::GATED;
use crate::helpers::{TestApp, spawn_app};

const ERASED: &str = "491577766655";
const NAME: &str = "Zed Quillfeather";
const HELD: &str = "491544433322";
const OTHER: &str = "491500011122";

/// Everything a customer leaves behind: a delivery naming them, their inbound message,
/// a status of a message to them, and a reviewed run about them with an event and a
/// decision whose reason names them.
pub async fn seed_customer(app: &TestApp, pool: &PgPool, wa_id: &str, name: &str) {
    let body = json!({ "entry": [{ "changes": [{ "value": {
        "contacts": [{ "wa_id": wa_id, "profile": { "name": name } }],
        "messages": [{ "from": wa_id, "id": format!("in-{wa_id}"), "text": { "body": format!("I am {name}") } }],
    } }] }] });
    sqlx::query(
        "insert into webhook_events (body, body_sha256, received_at, processed_at, workspace_id, customers)
         values ($1, sha256($1), now(), now(), 'ws_a', array[$2])",
    )
    .bind(body.to_string().into_bytes())
    .bind(wa_id)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into inbound_messages (message_id, workspace_id, from_number, message_type, payload)
         values ($1, 'ws_a', $2, 'text', $3)",
    )
    .bind(format!("in-{wa_id}"))
    .bind(wa_id)
    .bind(json!({ "text": { "body": format!("I am {name}") } }))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into message_statuses (message_id, workspace_id, recipient_id, status)
         values ($1, 'ws_a', $2, 'delivered')",
    )
    .bind(format!("out-{wa_id}"))
    .bind(wa_id)
    .execute(pool)
    .await
    .unwrap();
    let (status, run) = app
        .post(
            "/v1/runs",
            &json!({ "workflow": "gated", "workspace_id": "ws_a",
                     "input": { "customer": { "wa_id": wa_id, "name": name } },
                     "idempotency_key": format!("booking-{wa_id}") }),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let run = run["id"].as_str().unwrap().to_owned();
    app.wait_at_step(&run, "review").await;
    let (status, _) = app
        .post(
            &format!("/v1/runs/{run}/events"),
            &json!({ "name": "note", "correlation": wa_id, "payload": { "from": name } }),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{run}/steps/review/decision"),
            &json!({ "decision": "approve", "reason": format!("{name} confirmed by phone") }),
            "ana",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.wait_for_status(&run, "succeeded").await;
}

/// Where `needle` appears: every text, JSON and array column of every table, as text.
pub async fn places_holding(pool: &PgPool, needle: &str) -> Vec<String> {
    let columns = sqlx::query(
        "select table_schema, table_name, column_name from information_schema.columns
         where table_schema in ('public', 'apalis')
           and (data_type in ('text', 'jsonb', 'json', 'character varying', 'bytea', 'ARRAY'))
           and table_name in (select table_name from information_schema.tables
                              where table_type = 'BASE TABLE')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for column in columns {
        let (schema, table, name): (String, String, String) =
            (column.get(0), column.get(1), column.get(2));
        let sql = format!(
            "select count(*) from {schema}.{table} where position($1 in \"{name}\"::text) > 0
                or (pg_typeof(\"{name}\")::text = 'bytea'
                    and position(convert_to($1, 'UTF8') in \"{name}\"::text::bytea) > 0)"
        );
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .fetch_one(pool)
            .await
            .unwrap();
        if count > 0 {
            found.push(format!("{schema}.{table}.{name} ({count})"));
        }
    }
    found
}

fn receipt<'a>(receipts: &'a [Receipt], table: &str) -> &'a Receipt {
    receipts
        .iter()
        .find(|r| r.table == table)
        .unwrap_or_else(|| panic!("no receipt for {table}: {receipts:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_customer_is_nowhere_in_the_database_and_the_ledger_still_verifies() {
    let app = spawn_app(&[("gated", GATED)]).await;
    app.create_workspaces(&["ws_a"]).await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    seed_customer(&app, &pool, ERASED, NAME).await;
    seed_customer(&app, &pool, HELD, "Held Person").await;
    seed_customer(&app, &pool, OTHER, "Other Person").await;
    let (status, hold) = app
        .post_as(
            "/v1/legal-holds",
            &json!({ "kind": "litigation", "scope": { "customers": [HELD] },
                     "reason": "dispute", "matter_ref": "LIT-9" }),
            "ana",
        )
        .await;
    assert_eq!(status, 201, "{hold}");
    assert!(!places_holding(&pool, ERASED).await.is_empty(), "seeded");
    let settings = PurgeSettings::default();

    let subject = Subject::Customer {
        workspace_id: Some("ws_a".into()),
        wa_id: ERASED.into(),
    };
    let receipts = erasure::erase(&pool, &subject, None, "ana", &settings)
        .await
        .unwrap();
    for (table, action, rows) in [
        ("public.webhook_events", "delete", 1),
        ("public.inbound_messages", "delete", 1),
        ("public.message_statuses", "delete", 1),
        ("public.runs", "anonymise", 1),
        ("public.run_events", "anonymise", 1),
        ("public.step_decisions", "anonymise", 1),
    ] {
        let r = receipt(&receipts, table);
        assert_eq!((r.action, r.rows, r.held), (action, rows, 0), "{r:#?}");
    }
    assert!(receipt(&receipts, "public.run_history").rows > 0);
    assert_eq!(receipt(&receipts, "public.legal_holds").action, "keep");
    assert_eq!(places_holding(&pool, ERASED).await, Vec::<String>::new());
    assert_eq!(places_holding(&pool, NAME).await, Vec::<String>::new());
    // The others' records are all still there.
    assert!(places_holding(&pool, OTHER).await.len() >= 5);
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'subject.erased'")
            .await,
        1
    );

    // A held customer: nothing of theirs goes; each receipt names the hold.
    let held = Subject::Customer {
        workspace_id: None,
        wa_id: HELD.into(),
    };
    let receipts = erasure::erase(&pool, &held, None, "ana", &settings)
        .await
        .unwrap();
    let hold_id: uuid::Uuid = hold["id"].as_str().unwrap().parse().unwrap();
    for table in [
        "public.webhook_events",
        "public.inbound_messages",
        "public.message_statuses",
        "public.runs",
    ] {
        let r = receipt(&receipts, table);
        assert_eq!((r.rows, r.held), (0, 1), "{r:#?}");
        assert_eq!(r.hold_ids, [hold_id]);
    }
    assert!(places_holding(&pool, "Held Person").await.len() >= 3);

    // An export finds a customer's records, table by table, without sealed values.
    let other = Subject::Customer {
        workspace_id: None,
        wa_id: OTHER.into(),
    };
    let parts = erasure::export(&pool, &other, None).await.unwrap();
    let tables: Vec<&str> = parts.iter().map(|p| p.receipt.table).collect();
    for table in [
        "public.inbound_messages",
        "public.message_statuses",
        "public.runs",
        "public.webhook_events",
    ] {
        assert!(tables.contains(&table), "{tables:?}");
    }
    let runs = parts
        .iter()
        .find(|p| p.receipt.table == "public.runs")
        .unwrap();
    assert_eq!(runs.rows[0]["input"]["customer"]["name"], "Other Person");
    drop(pool);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn erasing_a_business_needs_it_closed_and_leaves_its_ledger_whole() {
    let app = spawn_app(&[("gated", GATED)]).await;
    app.create_workspaces(&["ws_a", "ws_b"]).await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    let pool = PgPool::connect(&app.database_url).await.unwrap();
    seed_customer(&app, &pool, OTHER, "Other Person").await;
    sqlx::query("insert into graph_calls (operation, workspace_id, outcome, duration_ms) values ('op', 'ws_a', 'ok', 1), ('op', 'ws_b', 'ok', 1)")
        .execute(&pool)
        .await
        .unwrap();
    let ledger = app
        .count("select count(*) from audit_ledger where workspace_id = 'ws_a'")
        .await;
    let settings = PurgeSettings::default();
    let business = Subject::Workspace("ws_a".into());
    // Open: its own row is not settled, so it stays as it is.
    let receipts = erasure::erase(&pool, &business, None, "ana", &settings)
        .await
        .unwrap();
    assert_eq!(receipt(&receipts, "public.workspaces").unsettled, 1);
    assert_eq!(receipt(&receipts, "public.graph_calls").rows, 1);
    let (status, _) = app
        .delete_as("/v1/workspaces/ws_a", crate::helpers::TESTER)
        .await;
    assert_eq!(status, 200);
    let receipts = erasure::erase(&pool, &business, None, "ana", &settings)
        .await
        .unwrap();
    assert_eq!(receipt(&receipts, "public.workspaces").rows, 1);
    let name: String = sqlx::query_scalar("select name from workspaces where id = 'ws_a'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "erased");
    assert_eq!(
        app.count("select count(*) from graph_calls where workspace_id = 'ws_b'")
            .await,
        1
    );
    assert!(
        app.count("select count(*) from audit_ledger where workspace_id = 'ws_a'")
            .await
            > ledger
    );
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    drop(pool);
    app.stop().await;
}
