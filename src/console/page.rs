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
    context
}

/// An instant as the templates show it (RFC 3339, UTC; the script shows it local).
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
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
