//! A privacy request's page: intake, verification, timeline and the decision form
//! (approve, or deny with a reason from the fixed list), through the privacy domain's own
//! commands. When the engine refuses a decision, the page says why in plain words ("you
//! filed this request") instead of the rule's name. The evidence bundle downloads here.

use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::page::{self, time};
use super::session::{self, SignedIn};
use super::{refusals, render};
use crate::engine::EngineError;
use crate::privacy::DENIAL_REASONS;
use crate::privacy::requests::{self, PrivacyRequestId, RequestDetail, RequestError};
use crate::security::Permission;
use crate::security::sessions::Session;

/// The approval step a request waits at, by its status.
fn awaiting(status: &str) -> Option<&'static str> {
    match status {
        "in_review" => Some("review"),
        "awaiting_second_approval" => Some("second_approval"),
        _ => None,
    }
}

/// Why the engine (or the domain) refused a decision, in the words a person reads.
pub fn plain_refusal(error: &RequestError) -> String {
    match error {
        RequestError::Engine(engine) => {
            refusals::engine(engine).unwrap_or_else(|| engine.to_string())
        }
        RequestError::Invalid(problems) => refusals::problems(problems),
        RequestError::Conflict(_, detail) => detail.clone(),
        other => other.to_string(),
    }
}

fn render_detail(
    session: &Session,
    detail: &RequestDetail,
    status: StatusCode,
    refusal: Option<String>,
) -> Response {
    let row = &detail.request;
    let (_, sla) = requests::due(row, chrono::Utc::now());
    let mut context = page::context(session, "inbox");
    context.insert(
        "r",
        &json!({
            "id": row.id,
            "kind": row.kind,
            "mode": row.mode,
            "status": row.status,
            "sla": sla.map_or("closed", |s| s.as_str()),
            "due_on": row.due_on.to_string(),
            "workspace_id": row.workspace_id,
            "customer": row.customer,
            "requester_name": row.requester_name,
            "requester_contact": row.requester_contact,
            "requester_relation": row.requester_relation,
            "jurisdiction": row.jurisdiction,
            "channel": row.channel,
            "received_at": time(row.received_at),
            "filed_by": row.filed_by,
            "notes": row.notes,
            "verification_method": row.verification_method,
            "verified_at": row.verified_at.map(time),
            "awaiting": awaiting(&row.status),
        }),
    );
    context.insert(
        "timeline",
        &detail
            .timeline
            .iter()
            .map(|e| page::timeline_entry(e.at, &e.kind, &e.actor, &e.detail))
            .collect::<Vec<_>>(),
    );
    context.insert(
        "extensions",
        &detail
            .extensions
            .iter()
            .map(|e| {
                json!({ "seq": e.seq, "from": e.from_due.to_string(), "to": e.to_due.to_string(),
                        "reason": e.reason, "notice_at": time(e.notice_at),
                        "by": e.extended_by, "at": time(e.extended_at) })
            })
            .collect::<Vec<_>>(),
    );
    context.insert("open", &row.closed_at.is_none());
    context.insert("reasons", &DENIAL_REASONS);
    context.insert("refusal", &refusal);
    render::page(status, "privacy_request.html", &context)
}

async fn load(request: &Request, session: &Session, id: Uuid) -> Result<RequestDetail, Response> {
    if let Err(forbidden) = session.caller.require(Permission::ReadPrivacyRequests) {
        return Err(page::not_allowed(session, &forbidden));
    }
    let (engine, _) = session::parts(request);
    match requests::get(engine.pool(), &session.caller, PrivacyRequestId::from(id)).await {
        Ok(detail) => Ok(detail),
        Err(RequestError::NotFound(_)) => Err(page::not_found(session)),
        Err(error) => Err(page::failed(session, &error)),
    }
}

/// `GET /console/privacy-requests/{id}`.
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

/// What the decision form posts.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/privacy-requests/{id}/decision`: the same command as the API's.
#[handler]
pub async fn decide(
    request: &Request,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let (session, id) = match session::posting_record(request, &form.csrf, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let detail = match load(request, &session, id).await {
        Ok(detail) => detail,
        Err(response) => return response,
    };
    if let Err(forbidden) = session.caller.require(Permission::DecidePrivacyRequests) {
        let text = format!("Your key may not decide privacy requests. {forbidden}");
        return render_detail(&session, &detail, StatusCode::FORBIDDEN, Some(text));
    }
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            let text = "Choose approve or deny.".to_owned();
            return render_detail(
                &session,
                &detail,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(text),
            );
        }
    };
    let (engine, _) = session::parts(request);
    let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    match requests::decide(
        &engine,
        &session.caller,
        PrivacyRequestId::from(id),
        approve,
        reason,
        note,
    )
    .await
    {
        Ok(_) => poem::web::Redirect::see_other(format!("/console/privacy-requests/{id}"))
            .into_response(),
        Err(RequestError::NotFound(_)) => page::not_found(&session),
        Err(error @ (RequestError::Database(_) | RequestError::WorkspaceNotFound(_))) => {
            page::failed(&session, &error)
        }
        Err(error) => {
            let status = match &error {
                RequestError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                RequestError::Engine(EngineError::Refused(_)) => StatusCode::FORBIDDEN,
                _ => StatusCode::CONFLICT,
            };
            // Show the request as it is now, with why the decision was not taken.
            match load(request, &session, id).await {
                Ok(now) => render_detail(&session, &now, status, Some(plain_refusal(&error))),
                Err(response) => response,
            }
        }
    }
}

/// `GET /console/privacy-requests/{id}/evidence`: the evidence bundle as a download.
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
    match crate::privacy::evidence::evidence(
        engine.pool(),
        &session.caller,
        PrivacyRequestId::from(id),
        None,
    )
    .await
    {
        Ok(bundle) => page::download(&format!("privacy-request-{id}-evidence.json"), &bundle),
        Err(RequestError::NotFound(_)) => page::not_found(&session),
        Err(RequestError::Conflict(_, detail)) => {
            page::refused(&session, StatusCode::CONFLICT, "No bundle", &detail)
        }
        Err(error) => page::failed(&session, &error),
    }
}

/// What the extension form posts.
#[derive(Debug, Deserialize)]
pub struct ExtensionForm {
    csrf: String,
    to: String,
    reason: String,
    #[serde(default)]
    notice_at: String,
}

/// `POST /console/privacy-requests/{id}/extension`: extends the deadline as the
/// request's jurisdiction allows (the same command as the API's).
#[handler]
pub async fn extend(
    request: &Request,
    Path(id): Path<String>,
    Form(form): Form<ExtensionForm>,
) -> Response {
    let (session, id) = match session::posting_record(request, &form.csrf, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let detail = match load(request, &session, id).await {
        Ok(detail) => detail,
        Err(response) => return response,
    };
    if let Err(forbidden) = session.caller.require(Permission::DecidePrivacyRequests) {
        let text = format!("Your key may not extend deadlines. {forbidden}");
        return render_detail(&session, &detail, StatusCode::FORBIDDEN, Some(text));
    }
    let invalid = |text: &str| {
        render_detail(
            &session,
            &detail,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(text.to_owned()),
        )
    };
    let Ok(to) = form.to.trim().parse::<chrono::NaiveDate>() else {
        return invalid("New due date: a day as 2027-01-31.");
    };
    let notice_at = match form.notice_at.trim() {
        "" => chrono::Utc::now(),
        text => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(at) => at.with_timezone(&chrono::Utc),
            Err(_) => {
                return invalid(
                    "Requester told at: a time as 2026-12-01T09:30:00Z, or empty for now.",
                );
            }
        },
    };
    let extension = crate::privacy::extensions::NewExtension {
        to,
        reason: form.reason.trim().to_owned(),
        notice_at,
    };
    let (engine, _) = session::parts(request);
    match crate::privacy::extensions::extend(
        engine.pool(),
        &session.caller,
        PrivacyRequestId::from(id),
        &extension,
    )
    .await
    {
        Ok(_) => poem::web::Redirect::see_other(format!("/console/privacy-requests/{id}"))
            .into_response(),
        Err(RequestError::NotFound(_)) => page::not_found(&session),
        Err(error @ RequestError::Database(_)) => page::failed(&session, &error),
        Err(error) => {
            let status = match &error {
                RequestError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            match load(request, &session, id).await {
                Ok(now) => render_detail(&session, &now, status, Some(plain_refusal(&error))),
                Err(response) => response,
            }
        }
    }
}
