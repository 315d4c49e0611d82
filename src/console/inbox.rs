//! The inbox: every approval the signed-in person may decide now (the engine's own
//! answer, so a request they filed or already decided is not there), most urgent first:
//! by deadline (a privacy request's due date, or the approval's expiry), then by how long
//! it has waited. Filters by kind and workspace.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::page::{self, time};
use super::render;
use super::session::{self, SignedIn};
use crate::authority::requests as authority;
use crate::privacy::requests::{self as privacy, PrivacyRequestId};
use crate::security::sessions::Session;

/// `GET /console`: the inbox, or the sign-in form.
#[handler]
pub async fn home() -> Response {
    Redirect::see_other("/console/inbox").into_response()
}

/// The inbox's filters.
#[derive(Debug, Default, Deserialize)]
pub struct InboxFilter {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    workspace: String,
}

#[derive(Debug, Serialize)]
struct Item {
    kind: &'static str,
    label: String,
    href: String,
    step: String,
    workspace: Option<String>,
    waiting_since: String,
    deadline: Option<String>,
    deadline_state: &'static str,
    approvals: i64,
    quorum: u32,
    #[serde(skip)]
    order: (Option<DateTime<Utc>>, DateTime<Utc>),
}

const KINDS: [(&str, &str); 4] = [
    ("privacy", "Privacy requests"),
    ("authority", "Authority requests"),
    ("clarification", "Clarifications"),
    ("other", "Other approvals"),
];

/// `GET /console/inbox`.
#[handler]
pub async fn inbox(
    request: &Request,
    SignedIn(session): SignedIn,
    Query(filter): Query<InboxFilter>,
) -> Response {
    match items(request, &session, &filter).await {
        Ok(items) => {
            let mut context = page::context(&session, "inbox");
            context.insert("items", &items);
            context.insert(
                "kinds",
                &KINDS
                    .iter()
                    .map(|(value, label)| json!({ "value": value, "label": label }))
                    .collect::<Vec<_>>(),
            );
            context.insert("filter_kind", &filter.kind);
            context.insert("filter_workspace", &filter.workspace);
            render::page(StatusCode::OK, "inbox.html", &context)
        }
        Err(error) => page::failed(&session, &error),
    }
}

async fn items(
    request: &Request,
    session: &Session,
    filter: &InboxFilter,
) -> Result<Vec<Item>, Box<dyn std::error::Error + Send + Sync>> {
    let (engine, _) = session::parts(request);
    let now = Utc::now();
    let mut items = Vec::new();
    for open in engine.open_approvals(&session.caller).await? {
        let waiting = open.waiting;
        if !filter.workspace.is_empty()
            && waiting.workspace_id.as_deref() != Some(filter.workspace.as_str())
        {
            continue;
        }
        let request_id = waiting.context["input"]["request_id"]
            .as_str()
            .and_then(|id| id.parse::<uuid::Uuid>().ok());
        let mut item = Item {
            kind: "other",
            label: format!("{} run", waiting.workflow.replace('_', " ")),
            href: format!("/console/runs/{}", waiting.run_id),
            step: waiting.step_id.replace('_', " "),
            workspace: waiting.workspace_id.clone(),
            waiting_since: time(waiting.created_at),
            deadline: waiting.wake_at.map(time),
            deadline_state: waiting.wake_at.map_or("no_deadline", |at| {
                crate::sla::state(at, now, chrono::Duration::hours(24)).as_str()
            }),
            approvals: waiting.approvals,
            quorum: open.quorum,
            order: (waiting.wake_at, waiting.created_at),
        };
        match (waiting.workflow.as_str(), request_id) {
            ("privacy_request", Some(id)) => {
                let Ok(detail) =
                    privacy::get(engine.pool(), &session.caller, PrivacyRequestId::from(id)).await
                else {
                    continue;
                };
                let row = &detail.request;
                let (due_at, state) = privacy::due(row, now);
                item.kind = "privacy";
                item.label = format!(
                    "{} request about {}",
                    capitalized(&row.kind),
                    row.workspace_id.as_deref().unwrap_or("a customer")
                );
                item.href = format!("/console/privacy-requests/{id}");
                item.workspace = row.workspace_id.clone();
                item.deadline = Some(time(due_at));
                item.deadline_state = state.map_or("closed", |s| s.as_str());
                item.order.0 = Some(due_at);
            }
            ("authority_request", Some(id)) => {
                item.kind = "authority";
                item.label = "Authority request".into();
                item.href = format!("/console/authority-requests/{id}");
            }
            _ => {}
        }
        if filter.kind.is_empty() || filter.kind == item.kind {
            items.push(item);
        }
    }
    if (filter.kind.is_empty() || filter.kind == "clarification") && filter.workspace.is_empty() {
        items.extend(clarifications(request, session, now).await?);
    }
    // Most urgent first: a deadline before none, the earliest first; then the longest wait.
    items.sort_by_key(|item| (item.order.0.is_none(), item.order.0, item.order.1));
    Ok(items)
}

/// How long an authority has to clarify before the review comes back on its own.
const CLARIFICATION_WAIT: chrono::Duration = chrono::Duration::days(30);

/// Authority requests sent back for clarification, for staff who record the authority's
/// answer: a clarification is no approval, but it is theirs to act on.
async fn clarifications(
    request: &Request,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<Vec<Item>, Box<dyn std::error::Error + Send + Sync>> {
    if session
        .caller
        .require(crate::security::Permission::FileAuthorityRequests)
        .is_err()
    {
        return Ok(Vec::new());
    }
    let (engine, _) = session::parts(request);
    let query = authority::RequestQuery {
        status: Some("needs_clarification".into()),
        limit: 200,
        ..authority::RequestQuery::default()
    };
    let rows = authority::list(engine.pool(), &session.caller, &query).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let asked = row.reviewed_at.unwrap_or(row.created_at);
            let lapses = asked + CLARIFICATION_WAIT;
            Item {
                kind: "clarification",
                label: format!("Clarification awaited from {}", row.authority),
                href: format!("/console/authority-requests/{}", row.id),
                step: "await clarification".into(),
                workspace: None,
                waiting_since: time(asked),
                deadline: Some(time(lapses)),
                deadline_state: crate::sla::state(lapses, now, chrono::Duration::days(7)).as_str(),
                approvals: 0,
                quorum: 0,
                order: (Some(lapses), asked),
            }
        })
        .collect())
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
