//! The console's authority, deadline, run, audit and retention pages in a real headless
//! browser against the real server: a lead opens an authority request from the inbox,
//! narrows its scope by unticking what the order does not justify, sees the requested vs
//! approved diff, is refused the disclosure approval in plain words (she reviewed it),
//! follows the request's run to its step timeline, finds it on the deadlines page,
//! searches the ledger and verifies the chain, previews a retention sweep; a key confined
//! to a workspace gets a 404 for the request.

use fantoccini::Locator;
use serde_json::json;

use bazaarstreet::security::Role;

use crate::authority_requests::{INSIDE, act, app, court_order, file, seed, wait_for};
use crate::browser::Browser;
use crate::console_flow::{
    assert_accessible, assert_fits_phone, at_path, click, get_with_cookie, session_cookie, sign_in,
    text, type_into,
};

const OUTSIDE: &str = "491577700022";

#[tokio::test(flavor = "multi_thread")]
async fn an_authority_request_is_narrowed_and_its_run_deadline_and_ledger_are_shown_in_a_real_browser()
 {
    let (app, pool) = app().await;
    seed(&pool).await;
    let mut order = court_order("court_order");
    order["due_at"] = json!("2027-01-15T00:00:00Z");
    let id = file(&app, &order).await;
    wait_for(&app, &id, "in_review").await;

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(&browser, &app, "lena").await;
    let page = format!("/console/authority-requests/{id}");
    click(&browser, &format!("a[href='{page}']")).await;
    at_path(&browser, &page).await;
    assert!(
        c.find(Locator::Css("table.diff del")).await.is_err(),
        "nothing is left out before the review"
    );
    assert_accessible(&browser).await;

    // Narrow: the other customer and the message content are not justified; from June on.
    click(&browser, "input[name='customer.1']").await;
    click(&browser, "input[name='category.1']").await;
    c.find(Locator::Css("#from"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(&browser, "#from", "2026-06-01T00:00:00Z").await;
    click(&browser, "input[name=choice][value=valid]").await;
    type_into(&browser, "#reason", "2703(d) order; three months supported").await;
    click(&browser, "form[action$='/review'] button").await;
    let diff = text(&browser, "table.diff del").await;
    assert!(!diff.is_empty());
    let diff = text(&browser, "table.diff").await;
    let struck: Vec<String> = {
        let mut out = Vec::new();
        for element in c.find_all(Locator::Css("table.diff del")).await.unwrap() {
            out.push(element.text().await.unwrap());
        }
        out
    };
    assert!(struck.contains(&OUTSIDE.to_owned()), "{struck:?} in {diff}");
    assert!(
        struck.contains(&"inbound_messages".to_owned()),
        "{struck:?}"
    );
    assert!(!struck.contains(&INSIDE.to_owned()), "{struck:?}");
    assert!(
        text(&browser, "table.diff ins")
            .await
            .contains("2026-06-01T00:00:00Z"),
        "{diff}"
    );
    let review = text(&browser, "section[aria-labelledby=scope] .facts").await;
    assert!(review.contains("valid by lena"), "{review}");
    assert!(review.contains("Basis: message statuses"), "{review}");
    let (_, detail) = app
        .get_as(&format!("/v1/authority-requests/{id}"), "otto")
        .await;
    assert_eq!(
        detail["request"]["approved_scope"]["customers"],
        json!([INSIDE])
    );
    assert_eq!(
        detail["request"]["approved_scope"]["categories"],
        json!(["message_statuses"])
    );
    browser.screenshot("authority-request").await;
    assert_fits_phone(&browser).await;

    // The disclosure approval must come from another lead: refused in plain words.
    wait_for(&app, &id, "awaiting_disclosure_approval").await;
    c.goto(&format!("{}{page}", app.address)).await.unwrap();
    click(&browser, "input[name=choice][value=approve]").await;
    click(&browser, "form[action$='/disclosure'] button").await;
    let refusal = text(&browser, "[role=alert]").await;
    assert!(
        refusal.contains("You already decided an earlier step"),
        "{refusal}"
    );
    wait_for(&app, &id, "awaiting_disclosure_approval").await;

    // The request's run: its step timeline names the review and who decided it.
    click(&browser, "a[href^='/console/runs/']").await;
    let steps = text(&browser, "ol.timeline").await;
    assert!(steps.contains("review"), "{steps}");
    assert!(steps.contains("decision recorded by lena"), "{steps}");
    assert!(steps.contains("package"), "{steps}");
    browser.screenshot("run-timeline").await;
    assert_fits_phone(&browser).await;
    assert_accessible(&browser).await;
    c.goto(&format!(
        "{}/console/runs?workflow=authority_request",
        app.address
    ))
    .await
    .unwrap();
    assert!(text(&browser, "tbody").await.contains("authority request"));
    assert_accessible(&browser).await;

    // Deadlines: the open request by the answer date its authority asked for.
    c.goto(&format!("{}/console/deadlines", app.address))
        .await
        .unwrap();
    let open = text(&browser, "section[aria-labelledby=authority] tbody").await;
    assert!(open.contains("Example County Sheriff"), "{open}");
    let due = c
        .find(Locator::Css(
            "section[aria-labelledby=authority] tbody time",
        ))
        .await
        .unwrap()
        .attr("datetime")
        .await
        .unwrap();
    assert_eq!(due.as_deref(), Some("2027-01-15T00:00:00Z"));
    assert_accessible(&browser).await;

    // Retention: a preview deletes nothing.
    c.goto(&format!("{}/console/retention", app.address))
        .await
        .unwrap();
    click(&browser, "a[href='/console/retention/preview']").await;
    assert!(text(&browser, "main").await.contains("this was a preview"));
    assert_accessible(&browser).await;
    let statuses: i64 = sqlx::query_scalar("select count(*) from message_statuses")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(statuses, 5);

    // Audit (an auditor): the review in the ledger, the chain verified, the head shown.
    click(&browser, ".signout button").await;
    sign_in(&browser, &app, "audra").await;
    c.goto(&format!(
        "{}/console/audit?action=authority_request.reviewed",
        app.address
    ))
    .await
    .unwrap();
    let entries = text(&browser, "tbody").await;
    assert!(entries.contains("lena"), "{entries}");
    assert!(
        !entries.contains(OUTSIDE),
        "no customer number in the ledger"
    );
    click(&browser, "a[href='/console/audit/verify']").await;
    assert!(
        text(&browser, "[role=status]")
            .await
            .contains("The chain holds")
    );
    assert!(text(&browser, ".facts").await.contains("Head hash"));
    browser.screenshot("audit").await;
    assert_fits_phone(&browser).await;
    assert_accessible(&browser).await;

    // An officer confined to ws_a: the request is not found, the list is empty, and the
    // ledger's head (which counts every workspace's entries) is not shown.
    app.create_key("cleo_a", Role::ComplianceOfficer, Some("ws_a"))
        .await;
    click(&browser, ".signout button").await;
    sign_in(&browser, &app, "cleo_a").await;
    let cookie = session_cookie(&browser).await;
    let (status, body) = get_with_cookie(&app, &cookie, &page).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get_with_cookie(&app, &cookie, "/console/authority-requests").await;
    assert_eq!(status, 200);
    assert!(!body.contains(&id), "{body}");
    assert!(body.contains("your key is confined to one"), "{body}");
    browser.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clarification_is_recorded_from_the_inbox_and_a_preservation_renewed_in_a_real_browser() {
    let (app, _pool) = app().await;
    let id = file(&app, &court_order("court_order")).await;
    wait_for(&app, &id, "in_review").await;
    let (status, body) = act(
        &app,
        &id,
        "review",
        &json!({ "verdict": "needs_clarification", "reason": "Which account is meant?" }),
        "otto",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&app, &id, "needs_clarification").await;
    let hold = json!({ "kind": "preservation", "scope": { "workspace_id": "ws_a" },
                       "reason": "preservation letter", "matter_ref": "PRES-7" });
    let (status, body) = app.post_as("/v1/legal-holds", &hold, "fay").await;
    assert_eq!(status, 201, "{body}");
    let before = body["expires_at"].as_str().unwrap().to_owned();

    // The filer records the authority's answer from her inbox.
    let browser = Browser::start().await;
    sign_in(&browser, &app, "fay").await;
    let row = text(&browser, "tbody tr").await;
    assert!(
        row.contains("Clarification awaited from Example County Sheriff"),
        "{row}"
    );
    click(
        &browser,
        &format!("a[href='/console/authority-requests/{id}']"),
    )
    .await;
    type_into(&browser, "#note", "The account of ws_a only").await;
    click(&browser, "form[action$='/clarification'] button").await;
    let detail = wait_for(&app, &id, "in_review").await;
    assert!(
        crate::authority_requests::timeline(&detail).contains(&"clarification_received".to_owned())
    );

    // The preservation hold's one renewal, then no second.
    browser
        .client
        .goto(&format!("{}/console/holds", app.address))
        .await
        .unwrap();
    click(&browser, "form[action$='/renewal'] button").await;
    assert!(
        text(&browser, "[role=status]")
            .await
            .contains("renewed until")
    );
    let (_, holds) = app.get_as("/v1/legal-holds", "fay").await;
    let after = holds["items"][0]["expires_at"].as_str().unwrap().to_owned();
    assert!(after > before, "{before} -> {after}");
    assert!(
        browser
            .client
            .find(Locator::Css("form[action$='/renewal']"))
            .await
            .is_err(),
        "a renewed hold offers no second renewal"
    );
    browser.close().await;
    app.stop().await;
}
