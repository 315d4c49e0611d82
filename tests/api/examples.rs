//! Every request example of the OpenAPI document works as sent: a newcomer who pastes
//! them into Swagger UI in order (workspace, key, run, decision, …) gets a 2xx for each.

use serde_json::{Value, json};

use bazaarstreet::security::Role;

use crate::helpers::spawn_app;

/// `(METHOD /path, example)` of every operation whose request body has an example.
fn request_examples() -> Vec<(String, Value)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    let mut examples = Vec::new();
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            for media in content.values() {
                let name = media["schema"]["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or_default();
                let example = &document["components"]["schemas"][name]["example"];
                if !example.is_null() {
                    examples.push((format!("{} {path}", method.to_uppercase()), example.clone()));
                }
            }
        }
    }
    examples
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_example_of_the_document_works_as_sent() {
    // The shipped workflows, as a newcomer's service has them.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workflows");
    let shipped: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    let files: Vec<(&str, &str)> = shipped
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let app = spawn_app(&files).await;
    let examples = request_examples();
    let example = |operation: &str| -> Value {
        examples
            .iter()
            .find(|(op, _)| op == operation)
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| panic!("the document has no example for {operation}"))
    };
    let mut sent = Vec::new();
    let mut send = async |operation: &str, path: &str, actor: &str| -> Value {
        let (status, body) = app.post_as(path, &example(operation), actor).await;
        assert!(
            (200..300).contains(&status),
            "{operation} with its example: {status} {body}"
        );
        sent.push(operation.to_owned());
        body
    };

    let workspace = send("POST /v1/workspaces", "/v1/workspaces", "tester").await;
    let workspace = workspace["id"].as_str().unwrap().to_owned();
    let key = send("POST /v1/keys", "/v1/keys", "tester").await;
    let officer = key["key"]["name"].as_str().unwrap().to_owned();
    app.keep_token(&officer, key["token"].as_str().unwrap());
    // An officer's key works once a second admin approved it.
    app.create_key("second-admin", Role::Admin, None).await;
    let key_id = key["key"]["id"].as_str().unwrap();
    let (status, _) = app
        .post_as(
            &format!("/v1/keys/{key_id}/approve"),
            &json!({}),
            "second-admin",
        )
        .await;
    assert_eq!(status, 200);
    send("POST /v1/people", "/v1/people", "tester").await;

    let run = send("POST /v1/runs", "/v1/runs", "tester").await;
    let run = run["id"].as_str().unwrap().to_owned();
    app.wait_at_step(&run, "review").await;
    send(
        "POST /v1/runs/{id}/steps/{step_id}/decision",
        &format!("/v1/runs/{run}/steps/review/decision"),
        &officer,
    )
    .await;

    let other = app.start("example", json!({ "customer": "C-2002" })).await;
    send(
        "POST /v1/runs/{id}/events",
        &format!("/v1/runs/{other}/events"),
        "tester",
    )
    .await;
    send(
        "POST /v1/runs/{id}/cancel",
        &format!("/v1/runs/{other}/cancel"),
        "tester",
    )
    .await;
    send(
        "POST /v1/workspaces/{id}/templates",
        &format!("/v1/workspaces/{workspace}/templates"),
        "tester",
    )
    .await;
    send(
        "POST /v1/workspaces/{id}/onboarding",
        &format!("/v1/workspaces/{workspace}/onboarding"),
        "tester",
    )
    .await;
    let (status, _) = app
        .delete_as(&format!("/v1/workspaces/{workspace}"), "tester")
        .await;
    assert_eq!(status, 200);
    send(
        "POST /v1/workspaces/{id}/reopen",
        &format!("/v1/workspaces/{workspace}/reopen"),
        "tester",
    )
    .await;

    app.create_key("lead", Role::ComplianceLead, None).await;
    send("POST /v1/legal-holds", "/v1/legal-holds", &officer).await;

    // A privacy request filed with the business's own key (verified at intake), its
    // deadline extended, reviewed by the officer. The extension's dates are moved onto
    // this request's own deadline (a fixed date would not stay within it).
    app.create_key("shop", Role::Integrator, Some(&workspace))
        .await;
    let filed = send("POST /v1/privacy-requests", "/v1/privacy-requests", "shop").await;
    let request = filed["request"]["id"].as_str().unwrap().to_owned();
    let due: chrono::NaiveDate = filed["request"]["due_on"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut extension = example("POST /v1/privacy-requests/{id}/extensions");
    extension["to"] = json!((due + chrono::Days::new(20)).to_string());
    extension["notice_at"] = json!(chrono::Utc::now() - chrono::Duration::hours(1));
    let (status, body) = app
        .post_as(
            &format!("/v1/privacy-requests/{request}/extensions"),
            &extension,
            &officer,
        )
        .await;
    assert_eq!(
        status, 200,
        "POST /v1/privacy-requests/{{id}}/extensions: {body}"
    );
    send(
        "POST /v1/privacy-requests/{id}/decision",
        &format!("/v1/privacy-requests/{request}/decision"),
        &officer,
    )
    .await;
    // Once the request is answered, the response sent to the requester is recorded.
    crate::privacy_requests::wait_for_request_as(&app, &request, "completed", "tester").await;
    send(
        "POST /v1/privacy-requests/{id}/responses",
        &format!("/v1/privacy-requests/{request}/responses"),
        &officer,
    )
    .await;
    // Filed by staff, the request waits for the customer's code; this workspace has no
    // number to send one from, so the code the example enters is stored as if sent.
    let filed = send(
        "POST /v1/privacy-requests",
        "/v1/privacy-requests",
        "tester",
    )
    .await;
    let unverified = filed["request"]["id"].as_str().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    crate::privacy_requests::wait_for_request_as(&app, &unverified, "verifying", "tester").await;
    let code = example("POST /v1/privacy-requests/{id}/verification")["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let digest = bazaarstreet::security::secret_box::SecretBox::development()
        .digest(&format!("privacy_request_code:{unverified}"), &code);
    sqlx::query(
        "insert into privacy_verification_codes (request_id, seq, code_digest, expires_at)
         values ($1::uuid, 1, $2, now() + interval '10 minutes')",
    )
    .bind(&unverified)
    .bind(digest)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    send(
        "POST /v1/privacy-requests/{id}/verification",
        &format!("/v1/privacy-requests/{unverified}/verification"),
        &officer,
    )
    .await;
    let (status, body) = app
        .put_as(
            "/v1/retention/policies",
            &example("PUT /v1/retention/policies"),
            "lead",
        )
        .await;
    assert_eq!(
        status, 200,
        "PUT /v1/retention/policies with its example: {body}"
    );

    // An authority's court order: filed by the officer, reviewed by a second officer,
    // its disclosure approved by the lead.
    app.create_key("officer2", Role::ComplianceOfficer, None)
        .await;
    let authority = |id: &str| format!("/v1/authority-requests/{id}");
    let filed = send(
        "POST /v1/authority-requests",
        "/v1/authority-requests",
        &officer,
    )
    .await;
    let order = filed["request"]["id"].as_str().unwrap().to_owned();
    crate::authority_requests::wait_for(&app, &order, "in_review").await;
    send(
        "POST /v1/authority-requests/{id}/review",
        &format!("{}/review", authority(&order)),
        "officer2",
    )
    .await;
    crate::authority_requests::wait_for(&app, &order, "awaiting_disclosure_approval").await;
    send(
        "POST /v1/authority-requests/{id}/disclosure",
        &format!("{}/disclosure", authority(&order)),
        "lead",
    )
    .await;
    // Another, sent back for clarification, and the authority's answer.
    let filed = send(
        "POST /v1/authority-requests",
        "/v1/authority-requests",
        &officer,
    )
    .await;
    let unclear = filed["request"]["id"].as_str().unwrap().to_owned();
    crate::authority_requests::wait_for(&app, &unclear, "in_review").await;
    let ask = json!({ "verdict": "needs_clarification", "reason": "which number?" });
    let (status, body) = app
        .post_as(&format!("{}/review", authority(&unclear)), &ask, "officer2")
        .await;
    assert_eq!(status, 200, "{body}");
    crate::authority_requests::wait_for(&app, &unclear, "needs_clarification").await;
    send(
        "POST /v1/authority-requests/{id}/clarification",
        &format!("{}/clarification", authority(&unclear)),
        &officer,
    )
    .await;
    // An emergency, approved by the lead and post-reviewed by the second officer.
    let mut emergency = example("POST /v1/authority-requests");
    emergency["instrument"] = json!("emergency");
    let (status, filed) = app
        .post_as("/v1/authority-requests", &emergency, &officer)
        .await;
    assert_eq!(status, 201, "{filed}");
    let urgent = filed["request"]["id"].as_str().unwrap().to_owned();
    crate::authority_requests::wait_for(&app, &urgent, "awaiting_emergency_approval").await;
    let (status, body) = app
        .post_as(
            &format!("{}/review", authority(&urgent)),
            &example("POST /v1/authority-requests/{id}/review"),
            "lead",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    crate::authority_requests::wait_for(&app, &urgent, "awaiting_post_review").await;
    send(
        "POST /v1/authority-requests/{id}/post-review",
        &format!("{}/post-review", authority(&urgent)),
        "officer2",
    )
    .await;

    // Reminders, in a workspace connected through the sandbox with the example template
    // approved. The booking's and reschedule's times are moved to days from now (a fixed
    // date would pass).
    let (shop, onboarding, _) = crate::onboarding::onboard(&app, "ws_salon_examples").await;
    app.wait_for_status(&onboarding, "succeeded").await;
    let submitted = send(
        "POST /v1/workspaces/{id}/templates",
        &format!("/v1/workspaces/{shop}/templates"),
        "tester",
    )
    .await;
    app.wait_for_status(submitted["run_id"].as_str().unwrap(), "succeeded")
        .await;
    let customer = send(
        "POST /v1/workspaces/{id}/customers",
        &format!("/v1/workspaces/{shop}/customers"),
        "tester",
    )
    .await;
    let (status, body) = app
        .put_as(
            &format!("/v1/workspaces/{shop}/reminder-policy"),
            &example("PUT /v1/workspaces/{id}/reminder-policy"),
            "tester",
        )
        .await;
    assert_eq!(
        status, 200,
        "PUT /v1/workspaces/{{id}}/reminder-policy: {body}"
    );
    let mut booking = example("POST /v1/workspaces/{id}/appointments");
    booking["start_at"] = json!(chrono::Utc::now() + chrono::Duration::days(3));
    let (status, booked) = app
        .post_as(
            &format!("/v1/workspaces/{shop}/appointments"),
            &booking,
            "tester",
        )
        .await;
    assert_eq!(
        status, 201,
        "POST /v1/workspaces/{{id}}/appointments: {booked}"
    );
    let appointment = booked["id"].as_str().unwrap();
    let mut moved = example("PATCH /v1/workspaces/{id}/appointments/{appointment_id}");
    moved["start_at"] = json!(chrono::Utc::now() + chrono::Duration::days(4));
    let (status, body) = app
        .patch_as(
            &format!("/v1/workspaces/{shop}/appointments/{appointment}"),
            &moved,
            "tester",
        )
        .await;
    assert_eq!(
        status, 200,
        "PATCH …/appointments/{{appointment_id}}: {body}"
    );
    send(
        "POST /v1/workspaces/{id}/customers/{customer_id}/consent",
        &format!(
            "/v1/workspaces/{shop}/customers/{}/consent",
            customer["id"].as_str().unwrap()
        ),
        "tester",
    )
    .await;

    sent.push("PUT /v1/retention/policies".to_owned());
    sent.push("POST /v1/privacy-requests/{id}/extensions".to_owned());
    sent.push("PUT /v1/workspaces/{id}/reminder-policy".to_owned());
    sent.push("POST /v1/workspaces/{id}/appointments".to_owned());
    sent.push("PATCH /v1/workspaces/{id}/appointments/{appointment_id}".to_owned());

    let mut documented: Vec<String> = examples.into_iter().map(|(op, _)| op).collect();
    documented.sort();
    sent.sort();
    sent.dedup();
    assert_eq!(sent, documented, "every request example was sent");
    app.stop().await;
}
