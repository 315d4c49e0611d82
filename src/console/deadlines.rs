//! Deadlines: every open privacy request by its due day (overdue, due soon, on track,
//! with the extensions used) and every open authority request by the answer date its
//! authority asked for. Read through the two domains' own commands, with the key's
//! visibility; a confined key sees its workspace's privacy requests and no authority
//! request.

use chrono::Utc;
use poem::http::StatusCode;
use poem::{Request, Response, handler};
use serde_json::json;

use super::page::{self, time};
use super::render;
use super::session::{self, SignedIn};
use crate::security::Permission;

/// How many of each the page lists.
const LIMIT: i64 = 500;

/// `GET /console/deadlines`.
#[handler]
pub async fn show(request: &Request, SignedIn(session): SignedIn) -> Response {
    let (engine, _) = session::parts(request);
    let now = Utc::now();
    let caller = &session.caller;
    let privacy = if caller.require(Permission::ReadPrivacyRequests).is_ok() {
        match crate::privacy::requests::open_by_due(engine.pool(), caller, LIMIT).await {
            Ok(rows) => rows,
            Err(error) => return page::failed(&session, &error),
        }
    } else {
        Vec::new()
    };
    let authority = if caller.require(Permission::ReadAuthorityRequests).is_ok() {
        match crate::authority::requests::open_by_due(engine.pool(), caller, LIMIT).await {
            Ok(rows) => rows,
            Err(error) => return page::failed(&session, &error),
        }
    } else {
        Vec::new()
    };
    let privacy: Vec<_> = privacy
        .iter()
        .map(|row| {
            let (due_at, state) = crate::privacy::requests::due(row, now);
            json!({ "id": row.id, "kind": row.kind, "workspace": row.workspace_id,
                    "status": row.status, "due_at": time(due_at),
                    "state": state.map_or("closed", |s| s.as_str()),
                    "extensions": row.extensions, "received_at": time(row.received_at) })
        })
        .collect();
    let count = |state: &str| privacy.iter().filter(|r| r["state"] == state).count();
    let mut context = page::context(&session, "deadlines");
    context.insert(
        "counts",
        &json!({ "overdue": count("overdue"), "due_soon": count("due_soon"),
                 "on_track": count("on_track") }),
    );
    context.insert("privacy", &privacy);
    context.insert(
        "authority",
        &authority
            .iter()
            .map(|row| {
                let state = row
                    .due_at
                    .map(|at| crate::sla::state(at, now, chrono::Duration::days(3)).as_str());
                json!({ "id": row.id, "authority": row.authority, "reference": row.reference,
                        "instrument": row.instrument, "status": row.status,
                        "due_at": row.due_at.map(time), "state": state.unwrap_or("no_deadline") })
            })
            .collect::<Vec<_>>(),
    );
    render::page(StatusCode::OK, "deadlines.html", &context)
}
