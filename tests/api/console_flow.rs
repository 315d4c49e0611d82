//! What the console's browser tests do again and again: sign in, click, type, wait for a
//! page or an element, and post a form outside the browser with its session cookie.

use std::time::Duration;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::TestApp;

/// Signs `key`'s person in through the sign-in form; waits for the inbox.
pub async fn sign_in(browser: &Browser, app: &TestApp, key: &str) {
    let c = &browser.client;
    c.goto(&format!("{}/console/sign-in", app.address))
        .await
        .unwrap();
    type_into(browser, "#key", &app.token(key).await).await;
    click(browser, "main button[type=submit]").await;
    at_path(browser, "/console/inbox").await;
}

/// Clicks the element matching `css`.
pub async fn click(browser: &Browser, css: &str) {
    let element = browser.client.find(Locator::Css(css)).await.unwrap();
    element.click().await.unwrap();
}

/// Types `text` into the field matching `css`.
pub async fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = browser.client.find(Locator::Css(css)).await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// How long a page may take to appear after a click.
pub const PAGE: Duration = Duration::from_secs(15);

/// The page's path once it is `expected` (a form's answer may still be loading).
pub async fn at_path(browser: &Browser, expected: &str) {
    let deadline = tokio::time::Instant::now() + PAGE;
    loop {
        let now = browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .to_owned();
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "at {now}, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the first element matching `css`, once there is one.
pub async fn text(browser: &Browser, css: &str) -> String {
    browser
        .client
        .wait()
        .at_most(PAGE)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A form post with the browser's session cookie, outside the browser.
pub async fn post_with_cookie(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", app.address))
        .header("cookie", format!("bzs_console={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(form))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A page fetched outside the browser with the browser's session cookie: status and body.
pub async fn get_with_cookie(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.address))
        .header("cookie", format!("bzs_console={cookie}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The browser's session cookie.
pub async fn session_cookie(browser: &Browser) -> String {
    browser
        .client
        .get_named_cookie("bzs_console")
        .await
        .unwrap()
        .value()
        .to_owned()
}

/// Checks what a person using a screen reader or a keyboard needs of the page now shown:
/// one `h1` and no skipped heading level, a label for every field, a language, no image
/// without a text alternative, no control reachable only by a mouse (every clickable
/// thing is a link, button, summary or form field).
pub async fn assert_accessible(browser: &Browser) {
    let found = browser
        .client
        .execute(
            r#"
            const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
            const unlabeled = fields.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                                    .map(e => e.name || e.id);
            const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
            const skipped = levels.some((level, i) => i > 0 && level > levels[i - 1] + 1);
            const clickable = [...document.querySelectorAll('[onclick], [tabindex]:not(main)')]
                                    .map(e => e.tagName);
            return {
                unlabeled, skipped, h1: levels.filter(l => l === 1).length,
                images: document.querySelectorAll('img:not([alt])').length,
                lang: document.documentElement.lang, clickable,
                path: location.pathname,
            };
            "#,
            vec![],
        )
        .await
        .unwrap();
    let path = &found["path"];
    assert_eq!(
        found["unlabeled"],
        serde_json::json!([]),
        "{path}: fields without a label"
    );
    assert_eq!(
        found["skipped"], false,
        "{path}: a heading level is skipped"
    );
    assert_eq!(found["h1"], 1, "{path}: one h1");
    assert_eq!(found["images"], 0, "{path}: images without alt");
    assert_eq!(found["lang"], "en", "{path}: no language");
    assert_eq!(
        found["clickable"],
        serde_json::json!([]),
        "{path}: mouse-only controls"
    );
}

/// Checks that the page now shown fits a phone's width (390 CSS pixels) without scrolling
/// sideways, then gives the window its laptop size back.
pub async fn assert_fits_phone(browser: &Browser) {
    let c = &browser.client;
    c.set_window_size(390, 844).await.unwrap();
    let found = c
        .execute(
            "return { wide: document.documentElement.scrollWidth, window: window.innerWidth, \
                      path: location.pathname };",
            vec![],
        )
        .await
        .unwrap();
    c.set_window_size(1280, 900).await.unwrap();
    assert!(
        found["wide"].as_i64().unwrap() <= found["window"].as_i64().unwrap(),
        "{}: scrolls sideways on a phone ({found})",
        found["path"]
    );
}
