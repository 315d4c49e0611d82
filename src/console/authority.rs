//! Authority requests: the list, and one request's page — intake, the documents served,
//! requested vs approved scope as a readable diff with the basis of each category, the
//! package and notices, the timeline, and the form for whatever the request waits for
//! (the review with its narrowing, the disclosure approval, the emergency post-review, the
//! authority's clarification, a preservation's renewal). Each form calls the authority
//! domain's own command; a refusal is shown in plain words. Requests belong to no
//! workspace: a key confined to one sees none of them (a 404, as in the API).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{self, time};
use super::scope_diff;
use super::session::{self, SignedIn};
use super::{refusals, render};
use crate::authority::decisions::{self, Verdict};
use crate::authority::requests::{
    self, AuthorityRequestId, RequestDetail, RequestError, RequestQuery,
};
use crate::authority::scope::{Scope, ScopeInput};
use crate::security::Permission;
use crate::security::sessions::Session;

/// The form a request's status asks for, if any.
fn awaiting(status: &str) -> Option<&'static str> {
    match status {
        "in_review" | "awaiting_emergency_approval" => Some("review"),
        "needs_clarification" => Some("clarification"),
        "awaiting_disclosure_approval" => Some("disclosure"),
        "awaiting_post_review" | "post_review_overdue" => Some("post-review"),
        "preserving" => Some("renewal"),
        _ => None,
    }
}

/// A refusal in the words a person reads.
fn plain(error: &RequestError) -> String {
    match error {
        RequestError::Engine(engine) => {
            refusals::engine(engine).unwrap_or_else(|| engine.to_string())
        }
        RequestError::Invalid(problems) => refusals::problems(problems),
        RequestError::Conflict(_, detail) => detail.clone(),
        other => other.to_string(),
    }
}

/// The list's filter.
#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    status: String,
}

/// `GET /console/authority-requests`: newest first.
#[handler]
pub async fn list(
    request: &Request,
    SignedIn(session): SignedIn,
    Query(filter): Query<ListFilter>,
) -> Response {
    if let Err(forbidden) = session.caller.require(Permission::ReadAuthorityRequests) {
        return page::not_allowed(&session, &forbidden);
    }
    let (engine, _) = session::parts(request);
    let query = RequestQuery {
        status: Some(filter.status.trim().to_owned()).filter(|s| !s.is_empty()),
        limit: 200,
        ..RequestQuery::default()
    };
    let rows = match requests::list(engine.pool(), &session.caller, &query).await {
        Ok(rows) => rows,
        Err(error) => return page::failed(&session, &error),
    };
    let mut context = page::context(&session, "authority");
    context.insert(
        "requests",
        &rows
            .iter()
            .map(|r| {
                json!({ "id": r.id, "authority": r.authority, "instrument": r.instrument,
                        "reference": r.reference, "status": r.status, "outcome": r.outcome,
                        "received_at": time(r.received_at), "due_at": r.due_at.map(time) })
            })
            .collect::<Vec<_>>(),
    );
    context.insert("filter_status", &filter.status);
    context.insert("confined", &session.caller.workspace_id.is_some());
    render::page(StatusCode::OK, "authority_requests.html", &context)
}

fn render_detail(
    session: &Session,
    detail: &RequestDetail,
    status: StatusCode,
    refusal: Option<String>,
) -> Response {
    let row = &detail.request;
    let requested = Scope::from_json(&row.requested_scope).unwrap_or_default();
    let approved = row.approved_scope.as_ref().and_then(Scope::from_json);
    let mut context = page::context(session, "authority");
    context.insert(
        "r",
        &json!({
            "id": row.id, "authority": row.authority, "jurisdiction": row.jurisdiction,
            "instrument": row.instrument, "reference": row.reference,
            "received_at": time(row.received_at), "due_at": row.due_at.map(time),
            "status": row.status, "outcome": row.outcome, "verdict": row.verdict,
            "verdict_reason": row.verdict_reason, "reviewed_by": row.reviewed_by,
            "reviewed_at": row.reviewed_at.map(time),
            "nondisclosure_ordered": row.nondisclosure_ordered,
            "nondisclosure_until": row.nondisclosure_until.map(time),
            "documents": row.documents, "recipient": row.recipient,
            "hold_ids": row.hold_ids, "filed_by": row.filed_by,
            "disclosed_at": row.disclosed_at.map(time), "disclosed_by": row.disclosed_by,
            "run_id": row.run_id, "awaiting": awaiting(&row.status),
            "emergency": row.status == "awaiting_emergency_approval",
        }),
    );
    context.insert("diff", &scope_diff::rows(&requested, approved.as_ref()));
    context.insert("choices", &scope_diff::choices(&requested));
    context.insert(
        "basis",
        &row.basis
            .as_ref()
            .and_then(Value::as_object)
            .map(|basis| {
                basis
                    .iter()
                    .map(|(category, b)| {
                        json!({ "category": category.replace('_', " "), "rule": b["rule"] })
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    context.insert(
        "package",
        &detail.package.as_ref().map(|p| {
            json!({ "sha256": p.sha256,
                    "files": p.files.as_ref().and_then(Value::as_object).map(|f| f.len()),
                    "expires_at": p.files_expire_at.map(time) })
        }),
    );
    context.insert(
        "notices",
        &detail
            .notices
            .iter()
            .map(|n| {
                json!({ "workspace": n.workspace_id, "status": n.status,
                        "send_at": n.send_at.map(time), "sent_at": n.sent_at.map(time) })
            })
            .collect::<Vec<_>>(),
    );
    context.insert("timeline", &page::timeline(&detail.timeline));
    context.insert("refusal", &refusal);
    render::page(status, "authority_request.html", &context)
}

async fn load(
    request: &Request,
    session: &Session,
    id: uuid::Uuid,
) -> Result<RequestDetail, Response> {
    if let Err(forbidden) = session.caller.require(Permission::ReadAuthorityRequests) {
        return Err(page::not_allowed(session, &forbidden));
    }
    let (engine, _) = session::parts(request);
    match requests::get(engine.pool(), &session.caller, AuthorityRequestId::from(id)).await {
        Ok(detail) => Ok(detail),
        Err(RequestError::NotFound(_)) => Err(page::not_found(session)),
        Err(error) => Err(page::failed(session, &error)),
    }
}

/// `GET /console/authority-requests/{id}`.
#[handler]
pub async fn show(
    request: &Request,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let id = match session::record_id(&session, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match load(request, &session, id).await {
        Ok(detail) => render_detail(&session, &detail, StatusCode::OK, None),
        Err(response) => response,
    }
}

/// A form field's trimmed text ("" when absent).
fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map_or("", |text| text.trim())
}

/// An instant typed into the form (RFC 3339), or the problem with it.
fn instant(form: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    match field(form, name) {
        "" => Ok(None),
        text => DateTime::parse_from_rfc3339(text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|_| format!("{name}: write a time as 2026-06-01T00:00:00Z")),
    }
}

/// The approved scope the review form describes: the requested items left ticked and
/// the range typed.
fn approved_scope(requested: &Scope, form: &HashMap<String, String>) -> Result<ScopeInput, String> {
    let ticked = |axis: &str, items: &[String]| -> Vec<String> {
        items
            .iter()
            .enumerate()
            .filter(|(index, _)| form.contains_key(&format!("{axis}.{index}")))
            .map(|(_, item)| item.clone())
            .collect()
    };
    let categories: Vec<String> = requested
        .categories
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    Ok(ScopeInput {
        workspaces: requested
            .workspaces
            .as_deref()
            .map(|items| ticked("workspace", items)),
        customers: requested
            .customers
            .as_deref()
            .map(|items| ticked("customer", items)),
        categories: ticked("category", &categories),
        from: instant(form, "from")?,
        to: instant(form, "to")?,
    })
}

/// `POST /console/authority-requests/{id}/{action}`: the review, the disclosure
/// approval, the post-review, the clarification or the renewal, each through its command.
#[handler]
pub async fn act(
    request: &Request,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (session, id) = match session::posting_record(request, field(&form, "csrf"), &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let detail = match load(request, &session, id).await {
        Ok(detail) => detail,
        Err(response) => return response,
    };
    let needs = match action.as_str() {
        "clarification" | "renewal" => Permission::FileAuthorityRequests,
        _ => Permission::DecideAuthorityRequests,
    };
    if let Err(forbidden) = session.caller.require(needs) {
        let text = format!("Your key may not do this. {forbidden}");
        return render_detail(&session, &detail, StatusCode::FORBIDDEN, Some(text));
    }
    let (engine, _) = session::parts(request);
    let caller = &session.caller;
    let request_id = AuthorityRequestId::from(id);
    let reason = field(&form, "reason");
    let choice = field(&form, "choice");
    let outcome = match (action.as_str(), choice) {
        ("review", "valid" | "invalid" | "needs_clarification") => {
            let verdict = match choice {
                "valid" => Verdict::Valid,
                "invalid" => Verdict::Invalid,
                _ => Verdict::NeedsClarification,
            };
            let requested = Scope::from_json(&detail.request.requested_scope).unwrap_or_default();
            let approved = match verdict {
                Verdict::Valid => match approved_scope(&requested, &form) {
                    Ok(scope) => Some(scope),
                    Err(text) => {
                        return render_detail(
                            &session,
                            &detail,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            Some(text),
                        );
                    }
                },
                _ => None,
            };
            decisions::review(
                &engine,
                caller,
                request_id,
                verdict,
                approved.as_ref(),
                reason,
            )
            .await
        }
        ("disclosure", "approve" | "withhold") => {
            decisions::decide_disclosure(&engine, caller, request_id, choice == "approve", reason)
                .await
        }
        ("post-review", "sound" | "unsound") => {
            decisions::post_review(&engine, caller, request_id, choice == "sound", reason).await
        }
        ("clarification", _) => {
            decisions::clarify(&engine, caller, request_id, field(&form, "note")).await
        }
        ("renewal", _) => decisions::renew(&engine, caller, request_id).await,
        ("review" | "disclosure" | "post-review", _) => {
            let text = "Choose one of the decisions offered.".to_owned();
            return render_detail(
                &session,
                &detail,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(text),
            );
        }
        _ => return page::not_found(&session),
    };
    match outcome {
        Ok(_) => Redirect::see_other(format!("/console/authority-requests/{id}")).into_response(),
        Err(RequestError::NotFound(_)) => page::not_found(&session),
        Err(error @ RequestError::Database(_)) => page::failed(&session, &error),
        Err(error) => {
            let status = match &error {
                RequestError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                RequestError::Engine(crate::engine::EngineError::Refused(_))
                | RequestError::Confined => StatusCode::FORBIDDEN,
                _ => StatusCode::CONFLICT,
            };
            match load(request, &session, id).await {
                Ok(now) => render_detail(&session, &now, status, Some(plain(&error))),
                Err(response) => response,
            }
        }
    }
}

/// `GET /console/authority-requests/{id}/evidence`: the evidence bundle as a download.
#[handler]
pub async fn download_evidence(
    request: &Request,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let id = match session::record_id(&session, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    if let Err(forbidden) = session.caller.require(Permission::ReadEvidence) {
        return page::not_allowed(&session, &forbidden);
    }
    let (engine, _) = session::parts(request);
    let bundle = crate::authority::evidence::evidence(
        engine.pool(),
        &session.caller,
        AuthorityRequestId::from(id),
        None,
    )
    .await;
    match bundle {
        Ok(bundle) => page::download(&format!("authority-request-{id}-evidence.json"), &bundle),
        Err(RequestError::NotFound(_) | RequestError::Confined) => page::not_found(&session),
        Err(error) => page::failed(&session, &error),
    }
}
