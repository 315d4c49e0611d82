//! The page templates, compiled into the binary and parsed once; rendering with
//! autoescaping (every template is `.html`), and the static stylesheet and script.

use std::sync::OnceLock;

use poem::http::StatusCode;
use poem::web::Html;
use poem::{IntoResponse, Response, handler};
use tera::{Context, Tera};

const TEMPLATES: [(&str, &str); 15] = [
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("error.html", include_str!("templates/error.html")),
    ("inbox.html", include_str!("templates/inbox.html")),
    (
        "privacy_request.html",
        include_str!("templates/privacy_request.html"),
    ),
    ("holds.html", include_str!("templates/holds.html")),
    ("notice.html", include_str!("templates/notice.html")),
    (
        "authority_requests.html",
        include_str!("templates/authority_requests.html"),
    ),
    (
        "authority_request.html",
        include_str!("templates/authority_request.html"),
    ),
    ("deadlines.html", include_str!("templates/deadlines.html")),
    ("retention.html", include_str!("templates/retention.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("audit.html", include_str!("templates/audit.html")),
];

fn tera() -> &'static Tera {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES)
            .expect("the console's templates parse (checked by the tests)");
        tera.autoescape_on(vec![".html"]);
        tera
    })
}

/// Renders template `name` with `context` as a page with `status`.
pub fn page(status: StatusCode, name: &str, context: &Context) -> Response {
    match tera().render(name, context) {
        Ok(html) => Html(html).with_status(status).into_response(),
        Err(error) => {
            tracing::error!(template = name, error = ?error, "a console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// `GET /console/static/console.css`.
#[handler]
pub fn stylesheet() -> Response {
    static_file(
        include_str!("static/console.css"),
        "text/css; charset=utf-8",
    )
}

/// `GET /console/static/console.js`.
#[handler]
pub fn script() -> Response {
    static_file(
        include_str!("static/console.js"),
        "text/javascript; charset=utf-8",
    )
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header("cache-control", "public, max-age=3600")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A signed-in page's context with `pairs` added.
    fn context(pairs: &[(&str, serde_json::Value)]) -> Context {
        let mut context = Context::new();
        context.insert(
            "session",
            &json!({ "person": "ana", "role": "auditor", "workspace": null, "csrf": "t" }),
        );
        context.insert("nav", "runs");
        context.insert("nav_items", &Vec::<serde_json::Value>::new());
        for (key, value) in pairs {
            context.insert(*key, value);
        }
        context
    }

    #[test]
    fn the_list_pages_render_their_paging_links_escaped() {
        let runs = context(&[
            (
                "runs",
                json!([{ "id": "r1", "workflow": "a_b", "version": 1, "workspace": null,
                              "status": "succeeded", "step": null,
                              "created_at": "2026-12-01T00:00:00Z", "took": "1 ms" }]),
            ),
            ("workflows", json!(["a_b"])),
            ("statuses", json!(["succeeded"])),
            (
                "filter",
                json!({ "workflow": "a_b", "status": "", "workspace": "" }),
            ),
            ("newest", json!("/console/runs?workflow=a_b")),
            ("older", json!("/console/runs?workflow=a_b&before=r1")),
        ]);
        let html = tera().render("runs.html", &runs).unwrap();
        assert!(
            html.contains("workflow=a_b&amp;before=r1\">Older runs"),
            "{html}"
        );
        let audit = context(&[
            (
                "entries",
                json!([{ "seq": 1, "at": "2026-12-01T00:00:00Z", "actor": "ana",
                                 "action": "x", "subject": "s", "workspace": null,
                                 "data": "{}", "hash": "00" }]),
            ),
            (
                "search",
                json!({ "actor": "", "action": "x", "subject": "" }),
            ),
            ("newest", json!("/console/audit?action=x")),
            ("older", json!("/console/audit?action=x&before=1")),
            ("head", json!({ "seq": 1, "hash": "00" })),
            ("head_confined", json!("no")),
            ("verification", json!(null)),
        ]);
        let html = tera().render("audit.html", &audit).unwrap();
        assert!(
            html.contains("action=x&amp;before=1\">Older entries"),
            "{html}"
        );
    }
}
