//! What every page's template is given (who is signed in, the CSRF token, which part of
//! the console it is), the plain-words pages for not found and refused, and times as the
//! templates show them.

use chrono::{DateTime, Utc};
use poem::Response;
use poem::http::StatusCode;
use serde_json::json;
use tera::Context;

use super::render;
use crate::security::sessions::Session;

/// A template context for a signed-in page of `nav` (`inbox`, `holds`, …).
pub fn context(session: &Session, nav: &str) -> Context {
    let mut context = Context::new();
    context.insert(
        "session",
        &json!({
            "person": session.caller.person,
            "role": session.caller.role.as_str(),
            "workspace": session.caller.workspace_id.as_ref().map(|w| w.as_str()),
            "csrf": session.csrf,
        }),
    );
    context.insert("nav", nav);
    context.insert(
        "nav_items",
        &NAV.iter()
            .map(|(key, href, label)| json!({ "key": key, "href": href, "label": label }))
            .collect::<Vec<_>>(),
    );
    context
}

/// The console's parts, in the order the bar shows them: (key, address, label).
const NAV: [(&str, &str, &str); 7] = [
    ("inbox", "/console/inbox", "Inbox"),
    ("deadlines", "/console/deadlines", "Deadlines"),
    (
        "authority",
        "/console/authority-requests",
        "Authority requests",
    ),
    ("holds", "/console/holds", "Legal holds"),
    ("retention", "/console/retention", "Retention"),
    ("runs", "/console/runs", "Runs"),
    ("audit", "/console/audit", "Audit"),
];

/// An instant as the templates show it (RFC 3339, UTC; the script shows it local).
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One timeline entry as the templates show it (the detail as compact JSON, none when
/// empty).
pub fn timeline_entry(
    at: DateTime<Utc>,
    kind: &str,
    actor: &str,
    detail: &serde_json::Value,
) -> serde_json::Value {
    let detail = if detail.as_object().is_some_and(|o| o.is_empty()) {
        String::new()
    } else {
        detail.to_string()
    };
    json!({ "at": time(at), "kind": kind, "actor": actor, "detail": detail })
}

/// A request's timeline, bound to the ledger ([`crate::evidence::timeline`]).
pub fn timeline(events: &[crate::evidence::timeline::TimelineEvent]) -> Vec<serde_json::Value> {
    events
        .iter()
        .map(|e| timeline_entry(e.at, &e.kind, &e.actor, &e.detail))
        .collect()
}

/// A JSON document as a file download named `name`.
pub fn download(name: &str, body: &serde_json::Value) -> Response {
    Response::builder()
        .content_type("application/json")
        .header(
            "content-disposition",
            format!("attachment; filename=\"{name}\""),
        )
        .body(body.to_string())
}

/// `path` with `pairs` as its query, each value percent-encoded (empty values left out).
pub fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let query: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| format!("{key}={}", encode(value.trim())))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// The 404 page: also what another workspace's record looks like.
pub fn not_found(session: &Session) -> Response {
    refused(
        session,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such record, or it is not visible to your key.",
    )
}

/// A page saying `heading` and `text` with `status`.
pub fn refused(session: &Session, status: StatusCode, heading: &str, text: &str) -> Response {
    let mut context = context(session, "");
    context.insert("heading", heading);
    context.insert("text", text);
    render::page(status, "error.html", &context)
}

/// The page for a key whose role lacks what the page needs.
pub fn not_allowed(session: &Session, forbidden: &crate::security::Forbidden) -> Response {
    refused(
        session,
        StatusCode::FORBIDDEN,
        "Not allowed",
        &forbidden.to_string(),
    )
}

/// A page that failed on the service's side.
pub fn failed(session: &Session, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "a console page failed");
    refused(
        session,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The service could not complete this page. Try again in a moment.",
    )
}

#[cfg(test)]
mod tests {
    use super::href;

    #[test]
    fn an_href_encodes_values_and_leaves_out_empty_ones() {
        assert_eq!(
            href(
                "/console/audit",
                &[("action", "a b&c"), ("actor", ""), ("before", "7")]
            ),
            "/console/audit?action=a%20b%26c&before=7"
        );
        assert_eq!(href("/console/runs", &[("status", " ")]), "/console/runs");
    }
}
