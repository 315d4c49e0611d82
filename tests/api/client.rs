//! End to end through the client generated from the committed OpenAPI document
//! (`openapi/client`): if the document misdescribes the API, these break.

use std::time::Duration;

use bazaarstreet_client::types::{
    CreateKeyRequest, DecisionRequest, DecisionValue, RoleName, RunStatus, StartRunRequest,
};
use bazaarstreet_client::{Client, problem, with_token};
use serde_json::json;

use crate::helpers::{PATIENCE, TESTER, spawn_app};
use bazaarstreet::security::Role;

const REVIEWED: &str = r#"
name = "reviewed"
version = 1
[[steps]]
id = "prepare"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
[[steps]]
id = "finish"
kind = "task"
handler = "builtin.noop"
"#;

async fn wait_for(client: &Client, id: &uuid::Uuid, status: RunStatus) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let run = client.get_run(id).await.expect("get_run").into_inner();
        if run.status == status {
            return serde_json::to_value(&run).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run never became {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_client_drives_a_reviewed_run_to_success() {
    let app = spawn_app(&[("reviewed", REVIEWED)]).await;
    let admin = with_token(&app.address, &app.token(TESTER).await);

    let created = admin
        .create_key(&CreateKeyRequest {
            name: "officer-1".parse().unwrap(),
            role: RoleName::ComplianceOfficer,
            workspace_id: None,
            person_id: None,
        })
        .await
        .expect("create_key")
        .into_inner();
    assert_eq!(created.key.role, "compliance_officer");
    assert_eq!(created.key.status, "pending_approval");
    // A second admin (another person) approves the approver's key.
    let second = with_token(
        &app.address,
        &app.create_key("second-admin", Role::Admin, None).await,
    );
    let approved = second
        .approve_key(&created.key.id)
        .await
        .expect("approve_key")
        .into_inner();
    assert_eq!(approved.status, "active");
    let officer = with_token(&app.address, &created.token);

    let run = admin
        .start_run(&StartRunRequest {
            workflow: "reviewed".parse().unwrap(),
            input: Some(json!({ "customer": "C-7" })),
            workspace_id: None,
            idempotency_key: Some("order-7".parse().unwrap()),
        })
        .await
        .expect("start_run");
    assert_eq!(run.status().as_u16(), 201);
    let run = run.into_inner();
    wait_for(&admin, &run.id, RunStatus::Waiting).await;

    let open = officer
        .list_approvals()
        .await
        .expect("list_approvals")
        .into_inner();
    assert_eq!(open.items.len(), 1);
    assert_eq!(open.items[0].step_id, "review");
    officer
        .decide_step(
            &run.id,
            "review",
            &DecisionRequest {
                decision: DecisionValue::Approve,
                reason: "in scope".parse().unwrap(),
            },
        )
        .await
        .expect("decide_step");
    let done = wait_for(&admin, &run.id, RunStatus::Succeeded).await;
    assert_eq!(done["context"]["steps"]["finish"]["customer"], "C-7");

    // The same idempotency key answers 200 with the same run.
    let again = admin
        .start_run(&StartRunRequest {
            workflow: "reviewed".parse().unwrap(),
            input: Some(json!({ "customer": "C-7" })),
            workspace_id: None,
            idempotency_key: Some("order-7".parse().unwrap()),
        })
        .await
        .expect("start_run again");
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.into_inner().id, run.id);

    let subject = format!("run:{}", run.id);
    let audit = admin
        .list_audit(None, None, None, None, None, Some(&subject), None)
        .await
        .expect("list_audit")
        .into_inner();
    assert!(
        audit
            .items
            .iter()
            .any(|e| e.action == "run.decision_recorded" && e.actor == "officer-1")
    );
    let verify = admin
        .verify_audit()
        .await
        .expect("verify_audit")
        .into_inner();
    assert!(verify.intact);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_arrive_as_the_declared_problem_bodies() {
    let app = spawn_app(&[("reviewed", REVIEWED)]).await;
    let admin = with_token(&app.address, &app.token(TESTER).await);
    let anonymous = Client::new(&app.address);

    let (status, body) = problem(
        anonymous
            .list_runs(None, None, None, None, None)
            .await
            .unwrap_err(),
    )
    .await
    .expect("a problem body");
    assert_eq!(
        (status, body.type_.as_str()),
        (401, "https://bazaarstreet.dev/problems/unauthorized")
    );

    let missing = uuid::Uuid::now_v7();
    let (status, body) = problem(admin.get_run(&missing).await.unwrap_err())
        .await
        .expect("a problem body");
    assert_eq!(
        (status, body.type_.as_str()),
        (404, "https://bazaarstreet.dev/problems/run-not-found")
    );

    let run = admin
        .start_run(&StartRunRequest {
            workflow: "reviewed".parse().unwrap(),
            input: None,
            workspace_id: None,
            idempotency_key: None,
        })
        .await
        .unwrap()
        .into_inner();
    wait_for(&admin, &run.id, RunStatus::Waiting).await;
    let refused = admin
        .decide_step(
            &run.id,
            "review",
            &DecisionRequest {
                decision: DecisionValue::Approve,
                reason: "mine".parse().unwrap(),
            },
        )
        .await
        .unwrap_err();
    let (status, body) = problem(refused).await.expect("a problem body");
    assert_eq!(status, 403);
    assert_eq!(
        body.type_,
        "https://bazaarstreet.dev/problems/approval-policy"
    );
    assert_eq!(body.rule.as_deref(), Some("role"));
    app.stop().await;
}
