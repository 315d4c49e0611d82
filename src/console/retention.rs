//! Retention: the policies in force (per category and workspace status, with their
//! minimum and reason), the last sweeps with their reports (deleted, anonymised, held and
//! by which holds), and a preview of what a sweep now would delete — deleting nothing.
//! Through the data lifecycle domain's commands with the key's visibility.

use poem::http::StatusCode;
use poem::{Request, Response, handler};
use serde_json::json;

use super::page::{self, time};
use super::render;
use super::session::{self, SignedIn};
use crate::duration::as_days;
use crate::engine::RunFilter;
use crate::lifecycle::{retention, sweep};
use crate::security::Permission;
use crate::security::sessions::Session;

/// How many past sweeps the page shows.
const SWEEPS: i64 = 5;

async fn render_page(request: &Request, session: &Session, with_preview: bool) -> Response {
    if let Err(forbidden) = session.caller.require(Permission::ReadLifecycle) {
        return page::not_allowed(session, &forbidden);
    }
    let (engine, _) = session::parts(request);
    let policies = match retention::policies(engine.pool()).await {
        Ok(policies) => policies,
        Err(error) => return page::failed(session, &error),
    };
    let filter = RunFilter {
        workflow: Some(sweep::SWEEP_WORKFLOW.to_owned()),
        status: None,
        workspace_id: None,
        before: None,
        limit: SWEEPS,
    };
    let runs = match engine.list_visible_runs(&session.caller, filter).await {
        Ok(runs) => runs,
        Err(error) => return page::failed(session, &error),
    };
    let mut sweeps = Vec::new();
    for run in runs {
        let lines = match sweep::visible_report(&engine, &session.caller, run.id).await {
            Ok((_, lines)) => lines,
            Err(error) => return page::failed(session, &error),
        };
        sweeps.push(json!({
            "run_id": run.id.to_string(), "status": run.status.as_str(),
            "started_at": time(run.created_at), "finished_at": run.finished_at.map(time),
            "deleted": lines.iter().map(|l| l.deleted).sum::<i64>(),
            "anonymised": lines.iter().map(|l| l.anonymised).sum::<i64>(),
            "held": lines.iter().map(|l| l.held).sum::<i64>(),
            "lines": lines.iter().filter(|l| l.deleted + l.anonymised + l.held > 0).map(|l| json!({
                "table": l.table_name, "workspace": l.workspace_id, "deleted": l.deleted,
                "anonymised": l.anonymised, "held": l.held,
                "holds": l.hold_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
    }
    let lines_due = if with_preview {
        match sweep::preview(engine.pool(), &session.caller).await {
            Ok(lines) => Some(
                lines
                    .iter()
                    .filter(|l| l.purgeable + l.held > 0)
                    .map(|l| {
                        json!({ "table": l.table, "category": l.category.as_str().replace('_', " "),
                                "workspace": l.workspace_id, "purgeable": l.purgeable,
                                "held": l.held,
                                "holds": l.hold_ids.iter().map(ToString::to_string).collect::<Vec<_>>() })
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(error) => return page::failed(session, &error),
        }
    } else {
        None
    };
    let mut context = page::context(session, "retention");
    context.insert(
        "policies",
        &policies
            .iter()
            .map(|p| {
                json!({ "category": p.category.as_str().replace('_', " "),
                        "status": p.workspace_status.as_str(),
                        "keep": p.keep.map_or_else(|| "kept (not swept)".to_owned(), as_days),
                        "minimum": as_days(p.minimum), "reason": p.reason, "source": p.source,
                        "updated": p.updated_by.as_ref().map(|by| json!({ "by": by,
                            "at": p.updated_at.map(time) })) })
            })
            .collect::<Vec<_>>(),
    );
    context.insert("sweeps", &sweeps);
    context.insert("preview", &lines_due);
    render::page(StatusCode::OK, "retention.html", &context)
}

/// `GET /console/retention`.
#[handler]
pub async fn show(request: &Request, SignedIn(session): SignedIn) -> Response {
    render_page(request, &session, false).await
}

/// `GET /console/retention/preview`: the same page with what a sweep now would do.
#[handler]
pub async fn show_preview(request: &Request, SignedIn(session): SignedIn) -> Response {
    render_page(request, &session, true).await
}
