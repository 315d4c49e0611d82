//! The compliance console in a real headless browser against the real server on a fresh
//! database: sign in with a personal key, see the inbox, open a privacy request, approve
//! its review, see the refusal in plain words when the same person tries its second
//! approval, place a hold and ask for its release, sign out; a form without the session's
//! CSRF token is refused and changes nothing; another workspace's request is a 404; a
//! stored `<script>` renders as text. The screenshots in docs/CONSOLE.md come from here.

use fantoccini::Locator;
use serde_json::json;

use bazaarstreet::security::Role;

use crate::browser::Browser;
use crate::console_flow::{
    assert_accessible, assert_fits_phone, at_path, click, form_body, post_with_cookie,
    session_cookie, sign_in, text, type_into,
};
use crate::helpers::spawn_app;
use crate::privacy_requests::{second_key, wait_for_request_as};

const PRIVACY: &str = include_str!("../../workflows/privacy_request.toml");
const RELEASE: &str = include_str!("../../workflows/legal_hold_release.toml");
const SCRIPT_NAME: &str = "<script>alert('owned')</script>";

#[tokio::test(flavor = "multi_thread")]
async fn a_compliance_lead_signs_in_decides_holds_and_signs_out_in_a_real_browser() {
    let app = spawn_app(&[
        ("privacy_request", PRIVACY),
        ("legal_hold_release", RELEASE),
    ])
    .await;
    app.create_workspaces(&["ws_a", "ws_b"]).await;
    // The business's own lead files (verified by its confined key); officer Ana reviews,
    // and also holds a lead key (one person, two keys).
    app.create_key("owner_a", Role::ComplianceLead, Some("ws_a"))
        .await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    second_key(&app, &pool, "ana", "ana_lead", Role::ComplianceLead).await;
    app.create_key("bea_b", Role::ComplianceOfficer, Some("ws_b"))
        .await;
    app.create_key("lea", Role::ComplianceLead, None).await;
    let (status, filed) = app
        .post_as(
            "/v1/privacy-requests",
            &json!({ "kind": "deletion", "subject": { "workspace_id": "ws_a" },
                     "requester": { "name": SCRIPT_NAME, "contact": "owner@example.com",
                                    "relation": "customer" },
                     "jurisdiction": "gdpr", "channel": "email" }),
            "owner_a",
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["request"]["id"].as_str().unwrap().to_owned();
    wait_for_request_as(&app, &id, "in_review", "ana").await;

    let browser = Browser::start().await;
    let c = &browser.client;
    // Not signed in: the console sends the person to the sign-in form.
    c.goto(&format!("{}/console/inbox", app.address))
        .await
        .unwrap();
    at_path(&browser, "/console/sign-in").await;
    browser.screenshot("sign-in").await;
    assert_accessible(&browser).await;
    sign_in(&browser, &app, "ana").await;
    at_path(&browser, "/console/inbox").await;
    assert!(text(&browser, "header").await.contains("ana"));
    let link = format!("a[href='/console/privacy-requests/{id}']");
    let row = text(&browser, "tbody tr").await;
    assert!(row.contains("Deletion request about ws_a"), "{row}");
    browser.screenshot("inbox").await;
    assert_fits_phone(&browser).await;
    assert_accessible(&browser).await;

    // The request: the stored script is text, not markup.
    click(&browser, &link).await;
    at_path(&browser, &format!("/console/privacy-requests/{id}")).await;
    assert!(text(&browser, ".facts").await.contains(SCRIPT_NAME));
    let source = c.source().await.unwrap();
    assert!(!source.contains(SCRIPT_NAME), "rendered as markup");
    assert!(c.get_alert_text().await.is_err(), "a script ran");
    browser.screenshot("privacy-request").await;
    assert_fits_phone(&browser).await;
    assert_accessible(&browser).await;
    click(&browser, "input[name=decision][value=approve]").await;
    click(&browser, "form[action$='/decision'] button").await;
    wait_for_request_as(&app, &id, "awaiting_second_approval", "ana").await;

    // Ana reviewed it: her lead key may not give the second approval, said in plain words.
    click(&browser, ".signout button").await;
    sign_in(&browser, &app, "ana_lead").await;
    assert!(
        c.find(Locator::Css(&link)).await.is_err(),
        "not in the inbox of the person who reviewed it"
    );
    c.goto(&format!("{}/console/privacy-requests/{id}", app.address))
        .await
        .unwrap();
    click(&browser, "input[name=decision][value=approve]").await;
    click(&browser, "form[action$='/decision'] button").await;
    let refusal = text(&browser, "[role=alert]").await;
    assert!(
        refusal.contains("You already decided an earlier step"),
        "{refusal}"
    );
    browser.screenshot("refusal").await;
    let (_, still) = app
        .get_as(&format!("/v1/privacy-requests/{id}"), "ana")
        .await;
    assert_eq!(still["request"]["status"], "awaiting_second_approval");

    // The deadline extended (GDPR: up to two further months), the requester told now.
    let (_, before) = app
        .get_as(&format!("/v1/privacy-requests/{id}"), "ana")
        .await;
    let due: chrono::NaiveDate = before["request"]["due_on"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let extended = (due + chrono::Duration::days(30)).to_string();
    click(&browser, "details summary").await;
    type_into(&browser, "#ext_to", &extended).await;
    type_into(
        &browser,
        "#ext_reason",
        "Complex: several systems to search",
    )
    .await;
    click(&browser, "form[action$='/extension'] button").await;
    let deadline = text(&browser, "section[aria-labelledby=deadline] tbody").await;
    assert!(deadline.contains(&extended), "{deadline}");
    let (_, after) = app
        .get_as(&format!("/v1/privacy-requests/{id}"), "ana")
        .await;
    assert_eq!(after["request"]["due_on"], extended.as_str());

    // A hold: placed, then its release asked for (a second person approves it).
    c.goto(&format!("{}/console/holds", app.address))
        .await
        .unwrap();
    assert!(text(&browser, ".empty").await.contains("No holds"));
    for (field, value) in [
        ("#workspace_id", "ws_a"),
        ("#matter", "Case 2026-114"),
        (
            "#hold_reason",
            "Litigation expected about the shop's orders",
        ),
    ] {
        type_into(&browser, field, value).await;
    }
    click(&browser, "form[action='/console/holds'] button").await;
    assert!(text(&browser, "[role=status]").await.contains("placed"));
    assert!(text(&browser, "tbody").await.contains("workspace ws_a"));
    browser.screenshot("holds").await;
    assert_fits_phone(&browser).await;
    assert_accessible(&browser).await;
    type_into(&browser, "input[id^=release-]", "The matter settled").await;
    click(&browser, "form[action$='/release'] button").await;
    let said = text(&browser, "[role=status]").await;
    assert!(said.contains("second person's approval"), "{said}");
    assert_eq!(
        app.count("select count(*) from runs where workflow = 'legal_hold_release'")
            .await,
        1
    );

    // The session's cookie without its CSRF token changes nothing.
    let cookie = session_cookie(&browser).await;
    let place = [
        ("kind", "litigation"),
        ("workspace_id", "ws_a"),
        ("matter", "m"),
        ("reason", "r"),
    ];
    let mut forged = place.to_vec();
    forged.push(("csrf", "0000"));
    assert_eq!(
        post_with_cookie(&app, &cookie, "/console/holds", &forged).await,
        403
    );
    assert!(post_with_cookie(&app, &cookie, "/console/holds", &place).await >= 400);
    assert_eq!(app.count("select count(*) from legal_holds").await, 1);

    // Sign out ends the session: the old cookie no longer opens a page.
    click(&browser, ".signout button").await;
    at_path(&browser, "/console/sign-in").await;
    c.goto(&format!("{}/console/inbox", app.address))
        .await
        .unwrap();
    at_path(&browser, "/console/sign-in").await;
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/console/inbox", app.address))
        .header("cookie", format!("bzs_console={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 303);

    // Another lead approves the release from her inbox, on the run's page.
    sign_in(&browser, &app, "lea").await;
    c.find(Locator::LinkText("legal hold release run"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&browser, "input[name=choice][value=approve]").await;
    type_into(
        &browser,
        "#reason",
        "The matter settled; nothing else needs it",
    )
    .await;
    click(&browser, "form[action$='/decision'] button").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app
        .count("select count(*) from legal_holds where status = 'released'")
        .await
        != 1
    {
        assert!(tokio::time::Instant::now() < deadline, "never released");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text(&browser, "ol.timeline")
            .await
            .contains("decision recorded by lea")
    );
    click(&browser, ".signout button").await;

    // A key confined to ws_b sees ws_a's request as not found.
    sign_in(&browser, &app, "bea_b").await;
    c.goto(&format!("{}/console/privacy-requests/{id}", app.address))
        .await
        .unwrap();
    assert_eq!(text(&browser, "h1").await, "Not found");
    let cookie = session_cookie(&browser).await;
    let status = reqwest::Client::new()
        .get(format!("{}/console/privacy-requests/{id}", app.address))
        .header("cookie", format!("bzs_console={cookie}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);
    browser.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn console_pages_carry_a_strict_policy_and_sign_ins_are_rate_limited_and_audited() {
    let app = spawn_app(&[]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{}/console/sign-in", app.address))
        .send()
        .await
        .unwrap();
    let headers = form.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let login = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(login.contains("HttpOnly") && login.contains("SameSite=Strict"));
    let token = login
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let attempt = |key: &'static str| {
        let client = client.clone();
        let token = token.clone();
        let address = app.address.clone();
        async move {
            client
                .post(format!("{address}/console/sign-in"))
                .header("cookie", format!("bzs_console_login={token}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&[("key", key), ("csrf", token.as_str())]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..10 {
        assert_eq!(attempt("bzs_wrong").await, 401);
    }
    assert_eq!(attempt("bzs_wrong").await, 429);
    assert_eq!(
        app.count("select count(*) from audit_ledger where action = 'console.sign_in_refused'")
            .await,
        10
    );
    // Nothing personal in the ledger: the address only as a hash prefix.
    let subject: String = sqlx::query_scalar(
        "select subject from audit_ledger where action = 'console.sign_in_refused' limit 1",
    )
    .fetch_one(&sqlx::PgPool::connect(&app.database_url).await.unwrap())
    .await
    .unwrap();
    assert!(!subject.contains("127.0.0.1"), "{subject}");
    app.stop().await;
}
