//! Meta's Data Deletion Request Callback and the public status page it points to.
//!
//! `POST /meta/data-deletion` takes Meta's form field `signed_request`, checks its
//! signature under the app secret (constant time) and its algorithm, files a deletion
//! request for the Meta user and answers `{url, confirmation_code}`; `GET
//! /privacy/deletion-status/{code}` shows that request's status in plain words (and why,
//! if refused), with no personal data. Both are public: Meta's signature and the random
//! code are their credentials. Calls the privacy domain's commands.

use std::collections::HashMap;

use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde_json::json;

use super::problem::ApiError;
use super::webhooks::WebhookConfig;
use crate::engine::Engine;
use crate::meta::signed_request;
use crate::privacy::meta_requests::{self, PublicStatus};

/// The status page's address for `code`, on the host the callback reached.
fn status_url(request: &Request, code: &str) -> String {
    let host = request
        .header(header::HOST)
        .unwrap_or("localhost")
        .to_owned();
    let scheme = request.header("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}/privacy/deletion-status/{code}")
}

/// Meta's callback: verifies the signed request and files the deletion.
#[handler]
pub async fn callback(
    request: &Request,
    engine: Data<&Engine>,
    config: Data<&WebhookConfig>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(signed) = form.get("signed_request") else {
        return ApiError::bad_request("the form has no `signed_request` field").into_response();
    };
    let user = match signed_request::verify(signed, &config.app_secret) {
        Ok(user) => user,
        Err(error) => return ApiError::bad_request(error.to_string()).into_response(),
    };
    match meta_requests::file_meta_deletion(engine.0, &user.user_id).await {
        Ok(row) => {
            let code = row.confirmation_code.unwrap_or_default();
            poem::web::Json(json!({ "url": status_url(request, &code), "confirmation_code": code }))
                .into_response()
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// Plain words for a status (no personal data: a status, dates, a reason).
fn explain(status: &PublicStatus) -> String {
    let day = |at: chrono::DateTime<chrono::Utc>| at.format("%-d %B %Y").to_string();
    match status.status.as_str() {
        "completed" if status.meta_user => format!(
            "Completed on {}. {}",
            status.closed_at.map(day).unwrap_or_default(),
            crate::privacy::execution::NO_META_USER_DATA
        ),
        "completed" => format!(
            "Completed on {}: the data was deleted.",
            status.closed_at.map(day).unwrap_or_default()
        ),
        "denied" => format!(
            "Refused on {}: {}",
            status.closed_at.map(day).unwrap_or_default(),
            refusal(status.denial_reason.as_deref().unwrap_or("unspecified"))
        ),
        "unverified" => "Closed: the requester could not be verified within 14 days.".to_owned(),
        "on_hold" => "Partly done: data under a legal hold is kept until the hold ends and will be deleted then; the rest was deleted.".to_owned(),
        "executing" => "Approved and being carried out.".to_owned(),
        _ => format!(
            "Received on {} and being reviewed; it will be answered by {}.",
            day(status.received_at),
            status.due_on.format("%-d %B %Y")
        ),
    }
}

fn refusal(code: &str) -> &'static str {
    match code {
        "not_verified" => "the requester could not be verified.",
        "not_authorized" => "the requester is not authorised to act for this account.",
        "no_data" => "no data about the requester is held.",
        "outside_jurisdiction" => "the request falls outside the law it was made under.",
        "manifestly_unfounded" => "the request is manifestly unfounded or excessive.",
        "duplicate" => "the same request was already answered.",
        _ => "the request could not be granted.",
    }
}

/// Escapes text for HTML (the page shows only fixed words and dates, escaped anyway).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The public status page of a deletion request, by confirmation code.
#[handler]
pub async fn status_page(engine: Data<&Engine>, Path(code): Path<String>) -> Response {
    let (status, words) = match meta_requests::public_status(engine.pool(), &code).await {
        Ok(Some(status)) => (StatusCode::OK, explain(&status)),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "No request has this confirmation code.".to_owned(),
        ),
        Err(error) => return ApiError::from(error).into_response(),
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Data deletion request</title></head>\
         <body><main><h1>Data deletion request</h1><p>{}</p></main></body></html>\n",
        escape(&words)
    );
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("content-security-policy", "default-src 'none'")
        .header("cache-control", "no-store")
        .body(page)
}
