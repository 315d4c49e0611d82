//! Legal holds: the list with what each covers, placing one, and asking for a release
//! (the hold-release workflow's approval decides it), through the data lifecycle domain's
//! commands with the signed-in key's role and workspace scope.

use chrono::{Duration, Utc};
use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::json;

use super::page::{self, time};
use super::session::{self, SignedIn};
use super::{refusals, render};
use crate::lifecycle::holds::{self, HoldError, HoldId, HoldQuery, HoldRow, HoldScope, NewHold};
use crate::security::Permission;
use crate::security::sessions::Session;

/// What a hold covers, in words.
fn covers(row: &HoldRow) -> String {
    let mut parts = vec![match &row.workspace_id {
        Some(workspace) => format!("workspace {workspace}"),
        None => "every workspace".to_owned(),
    }];
    match row.customers.as_deref() {
        Some(customers) if !customers.is_empty() => {
            parts.push(format!("customers {}", customers.join(", ")));
        }
        _ => parts.push("all its customers".into()),
    }
    if let Some(categories) = row.categories.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("only {}", categories.join(", ").replace('_', " ")));
    }
    match (row.from_at, row.to_at) {
        (Some(from), Some(to)) => parts.push(format!("from {} to {}", time(from), time(to))),
        (Some(from), None) => parts.push(format!("from {}", time(from))),
        (None, Some(to)) => parts.push(format!("until {}", time(to))),
        (None, None) => {}
    }
    parts.join("; ")
}

async fn list_page(
    request: &Request,
    session: &Session,
    status: StatusCode,
    flash: Option<(&str, String)>,
) -> Response {
    if let Err(forbidden) = session.caller.require(Permission::ReadLifecycle) {
        return page::not_allowed(session, &forbidden);
    }
    let (engine, _) = session::parts(request);
    let query = HoldQuery {
        workspace_id: None,
        status: None,
        kind: None,
        before: None,
        limit: 200,
    };
    let rows = match holds::list(engine.pool(), &session.caller, &query).await {
        Ok(rows) => rows,
        Err(error) => return page::failed(session, &error),
    };
    let mut context = page::context(session, "holds");
    context.insert(
        "holds",
        &rows
            .iter()
            .map(|h| {
                json!({ "id": h.id, "covers": covers(h), "reason": h.reason,
                        "matter": h.matter_ref, "placed_at": time(h.placed_at),
                        "placed_by": h.placed_by, "expires_at": h.expires_at.map(time),
                        "status": h.status,
                        "renewable": h.status == "active" && h.kind == "preservation"
                            && h.renewals == 0 })
            })
            .collect::<Vec<_>>(),
    );
    context.insert(
        "flash",
        &flash.map(|(kind, text)| json!({ "kind": kind, "text": text })),
    );
    render::page(status, "holds.html", &context)
}

/// `GET /console/holds`.
#[handler]
pub async fn list(request: &Request, SignedIn(session): SignedIn) -> Response {
    list_page(request, &session, StatusCode::OK, None).await
}

/// What the place form posts.
#[derive(Debug, Deserialize)]
pub struct PlaceForm {
    csrf: String,
    kind: String,
    workspace_id: String,
    #[serde(default)]
    customer: String,
    matter: String,
    reason: String,
    #[serde(default)]
    days: String,
}

fn problems(error: &HoldError) -> String {
    match error {
        HoldError::Invalid(problems) => refusals::problems(problems),
        other => other.to_string(),
    }
}

/// `POST /console/holds`: places a hold.
#[handler]
pub async fn place(request: &Request, Form(form): Form<PlaceForm>) -> Response {
    let session = match session::posting(request, &form.csrf).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if let Err(forbidden) = session.caller.require(Permission::PlaceHolds) {
        let text = format!("Your key may not place holds. {forbidden}");
        return list_page(
            request,
            &session,
            StatusCode::FORBIDDEN,
            Some(("error", text)),
        )
        .await;
    }
    let days = match form.days.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => Some(days),
            _ => {
                let text = "Expires after: a whole number of days from 1 to 3650.".to_owned();
                return list_page(
                    request,
                    &session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(("error", text)),
                )
                .await;
            }
        },
    };
    let customer = form.customer.trim();
    let hold = NewHold {
        kind: form.kind.trim().to_owned(),
        scope: HoldScope {
            workspace_id: Some(form.workspace_id.trim().to_owned()),
            customers: (!customer.is_empty()).then(|| vec![customer.to_owned()]),
            categories: None,
            from: None,
            to: None,
        },
        reason: form.reason.trim().to_owned(),
        matter_ref: form.matter.trim().to_owned(),
        expires_at: days.map(|days| Utc::now() + Duration::days(days)),
    };
    let (engine, _) = session::parts(request);
    match holds::place(engine.pool(), &session.caller, &hold).await {
        Ok(row) => {
            let text = format!("Hold {} placed: it covers {}.", row.id, covers(&row));
            list_page(request, &session, StatusCode::CREATED, Some(("ok", text))).await
        }
        Err(HoldError::Database(error)) => page::failed(&session, &error),
        Err(HoldError::WorkspaceNotFound(workspace)) => {
            let text = format!("workspace_id: there is no workspace `{workspace}` you may see.");
            list_page(
                request,
                &session,
                StatusCode::NOT_FOUND,
                Some(("error", text)),
            )
            .await
        }
        Err(error) => {
            let text = problems(&error);
            list_page(
                request,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(("error", text)),
            )
            .await
        }
    }
}

/// What the release form posts.
#[derive(Debug, Deserialize)]
pub struct ReleaseForm {
    csrf: String,
    reason: String,
}

/// `POST /console/holds/{id}/release`: asks for the release (a second person approves it).
#[handler]
pub async fn release(
    request: &Request,
    Path(id): Path<String>,
    Form(form): Form<ReleaseForm>,
) -> Response {
    let (session, id) = match session::posting_record(request, &form.csrf, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(forbidden) = session.caller.require(Permission::PlaceHolds) {
        let text = format!("Your key may not release holds. {forbidden}");
        return list_page(
            request,
            &session,
            StatusCode::FORBIDDEN,
            Some(("error", text)),
        )
        .await;
    }
    let (engine, _) = session::parts(request);
    match holds::request_release(
        &engine,
        &session.caller,
        HoldId::from(id),
        form.reason.trim(),
    )
    .await
    {
        Ok((row, _)) => {
            let text = if row.status == "released" {
                format!("Hold {} is released.", row.id)
            } else {
                format!(
                    "The release of hold {} now waits for a second person's approval in the inbox.",
                    row.id
                )
            };
            list_page(request, &session, StatusCode::OK, Some(("ok", text))).await
        }
        Err(HoldError::NotFound(_)) => page::not_found(&session),
        Err(HoldError::Database(error)) => page::failed(&session, &error),
        Err(error) => {
            let text = problems(&error);
            list_page(
                request,
                &session,
                StatusCode::CONFLICT,
                Some(("error", text)),
            )
            .await
        }
    }
}

/// What the renew form posts.
#[derive(Debug, Deserialize)]
pub struct RenewForm {
    csrf: String,
}

/// `POST /console/holds/{id}/renewal`: a preservation hold's one renewal (90 more days).
#[handler]
pub async fn renew(
    request: &Request,
    Path(id): Path<String>,
    Form(form): Form<RenewForm>,
) -> Response {
    let (session, id) = match session::posting_record(request, &form.csrf, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(forbidden) = session.caller.require(Permission::PlaceHolds) {
        let text = format!("Your key may not renew holds. {forbidden}");
        return list_page(
            request,
            &session,
            StatusCode::FORBIDDEN,
            Some(("error", text)),
        )
        .await;
    }
    let (engine, _) = session::parts(request);
    match holds::renew(engine.pool(), &session.caller, HoldId::from(id)).await {
        Ok(row) => {
            let until = row.expires_at.map(time).unwrap_or_default();
            let text = format!("Hold {} is renewed until {until}.", row.id);
            list_page(request, &session, StatusCode::OK, Some(("ok", text))).await
        }
        Err(HoldError::NotFound(_)) => page::not_found(&session),
        Err(HoldError::Database(error)) => page::failed(&session, &error),
        Err(error) => {
            let text = problems(&error);
            list_page(
                request,
                &session,
                StatusCode::CONFLICT,
                Some(("error", text)),
            )
            .await
        }
    }
}
