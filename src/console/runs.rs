//! Runs: any workflow's runs with filters (workflow, status, workspace), newest first and
//! paged, and one run's step timeline — each step visit with its attempts (worker, error,
//! how long), waits (until when) and decisions (who, how, why), then the run's history.
//! Read through the engine's own queries with the key's workspace visibility.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{self, time};
use super::session::{self, SignedIn};
use super::{refusals, render};
use crate::engine::commands::Decision;
use crate::engine::{EngineError, RunFilter, RunId, RunStatus, StepStatus};
use crate::security::sessions::Session;

/// One page of the list.
const PAGE: i64 = 50;

/// The list's filters and cursor.
#[derive(Debug, Default, Deserialize)]
pub struct RunsFilter {
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    before: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// How long from `from` to `to`, as a person reads it.
fn took(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<String> {
    let millis = (to? - from).num_milliseconds();
    Some(if millis < 1_000 {
        format!("{millis} ms")
    } else if millis < 120_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else if millis < 7_200_000 {
        format!("{} min", millis / 60_000)
    } else {
        format!("{:.1} h", millis as f64 / 3_600_000.0)
    })
}

/// `GET /console/runs`.
#[handler]
pub async fn list(
    request: &Request,
    SignedIn(session): SignedIn,
    Query(filter): Query<RunsFilter>,
) -> Response {
    let status = match some(&filter.status).map(|s| s.parse::<RunStatus>()) {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(_)) => {
            return page::refused(
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unknown status",
                &format!(
                    "status: `{}` is not a run status; one of {}",
                    filter.status.trim(),
                    RunStatus::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    };
    let (engine, _) = session::parts(request);
    let query = RunFilter {
        workflow: some(&filter.workflow),
        status,
        workspace_id: some(&filter.workspace),
        before: filter.before.trim().parse().ok(),
        limit: PAGE,
    };
    let runs = match engine.list_visible_runs(&session.caller, query).await {
        Ok(runs) => runs,
        Err(error) => return page::failed(&session, &error),
    };
    let next = (runs.len() as i64 == PAGE)
        .then(|| runs.last().map(|run| run.id.to_string()))
        .flatten();
    let mut context = page::context(&session, "runs");
    context.insert(
        "runs",
        &runs
            .iter()
            .map(|run| {
                json!({ "id": run.id.to_string(), "workflow": run.workflow,
                        "version": run.workflow_version,
                        "workspace": run.workspace_id.as_ref().map(|w| w.as_str()),
                        "status": run.status.as_str(), "step": run.current_step,
                        "created_at": time(run.created_at),
                        "took": took(run.created_at, run.finished_at) })
            })
            .collect::<Vec<_>>(),
    );
    let mut workflows: Vec<String> = engine
        .catalog()
        .all()
        .into_iter()
        .map(|d| d.name.clone())
        .collect();
    workflows.sort();
    context.insert("workflows", &workflows);
    context.insert(
        "statuses",
        &RunStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    );
    context.insert(
        "filter",
        &json!({ "workflow": filter.workflow, "status": filter.status,
                 "workspace": filter.workspace }),
    );
    let filters = [
        ("workflow", filter.workflow.as_str()),
        ("status", filter.status.as_str()),
        ("workspace", filter.workspace.as_str()),
    ];
    context.insert(
        "newest",
        &(!filter.before.is_empty()).then(|| page::href("/console/runs", &filters)),
    );
    context.insert(
        "older",
        &next.map(|before| {
            let mut pairs = filters.to_vec();
            pairs.push(("before", &before));
            page::href("/console/runs", &pairs)
        }),
    );
    render::page(StatusCode::OK, "runs.html", &context)
}

/// A stored value shortened for a table cell.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Workflows whose approvals are decided on their request's page, through their domain's
/// command (which records the decision with the request): the page of their runs links
/// there instead of offering the engine's plain decision.
fn decided_elsewhere(workflow: &str, input: &Value) -> Option<String> {
    let request_id = input["request_id"].as_str()?;
    match workflow {
        "privacy_request" => Some(format!("/console/privacy-requests/{request_id}")),
        "authority_request" => Some(format!("/console/authority-requests/{request_id}")),
        _ => None,
    }
}

/// `GET /console/runs/{id}`: the step timeline.
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
    timeline_page(request, &session, id, StatusCode::OK, None).await
}

async fn timeline_page(
    request: &Request,
    session: &Session,
    id: uuid::Uuid,
    status: StatusCode,
    refusal: Option<String>,
) -> Response {
    let (engine, _) = session::parts(request);
    let detail = match engine
        .visible_run_detail(&session.caller, RunId::from(id))
        .await
    {
        Ok(detail) => detail,
        Err(EngineError::RunNotFound(_)) => return page::not_found(session),
        Err(error) => return page::failed(session, &error),
    };
    let run = &detail.run;
    let awaiting = detail
        .steps
        .iter()
        .rev()
        .find(|step| step.kind == "approval" && step.status == StepStatus::Waiting)
        .map(|step| step.step_id.clone());
    let steps: Vec<Value> = detail
        .steps
        .iter()
        .map(|step| {
            let attempts: Vec<Value> = detail
                .attempts
                .iter()
                .filter(|a| a.seq == step.seq)
                .map(|a| {
                    json!({ "attempt": a.attempt, "worker": a.worker,
                            "status": a.status.as_str(), "outcome": a.outcome,
                            "error": a.error, "retryable": a.retryable,
                            "started_at": time(a.started_at),
                            "took": took(a.started_at, a.finished_at) })
                })
                .collect();
            let decisions: Vec<Value> = detail
                .history
                .iter()
                .filter(|h| {
                    h.step_id.as_deref() == Some(step.step_id.as_str())
                        && h.kind.starts_with("decision")
                })
                .map(|h| {
                    json!({ "at": time(h.at), "kind": h.kind.replace('_', " "),
                            "actor": h.actor, "data": short(&h.data) })
                })
                .collect();
            json!({
                "seq": step.seq, "step": step.step_id, "kind": step.kind.replace('_', " "),
                "status": step.status.as_str(), "outcome": step.outcome,
                "error": step.error, "wake_at": step.wake_at.map(time),
                "created_at": time(step.created_at),
                "took": took(step.created_at, step.finished_at),
                "output": step.output.as_ref().map(short),
                "attempts": attempts, "decisions": decisions,
            })
        })
        .collect();
    let mut context = page::context(session, "runs");
    context.insert(
        "decision",
        &awaiting.map(|step| {
            json!({ "step": step, "elsewhere": decided_elsewhere(&run.workflow, &run.input) })
        }),
    );
    context.insert("refusal", &refusal);
    context.insert(
        "run",
        &json!({
            "id": run.id.to_string(), "workflow": run.workflow, "version": run.workflow_version,
            "workspace": run.workspace_id.as_ref().map(|w| w.as_str()),
            "status": run.status.as_str(), "step": run.current_step,
            "initiator": run.initiator, "error": run.error, "cancel_reason": run.cancel_reason,
            "created_at": time(run.created_at), "finished_at": run.finished_at.map(time),
            "took": took(run.created_at, run.finished_at),
            "input": short(&run.input),
            "sla": detail.sla.map(|s| json!({ "due_at": time(s.due_at), "state": s.state.as_str() })),
        }),
    );
    context.insert("steps", &steps);
    context.insert(
        "history",
        &detail
            .history
            .iter()
            .map(|h| {
                json!({ "at": time(h.at), "kind": h.kind.replace('_', " "), "step": h.step_id,
                        "actor": h.actor, "data": short(&h.data) })
            })
            .collect::<Vec<_>>(),
    );
    render::page(status, "run.html", &context)
}

/// What the decision form posts.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    step: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/runs/{id}/decision`: the engine's decision on the approval step the run
/// waits at (the same command as `POST /v1/runs/{id}/steps/{step}/decision`).
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
    let decision = match form.choice.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => {
            let text = "Choose approve or reject.".to_owned();
            return timeline_page(
                request,
                &session,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(text),
            )
            .await;
        }
    };
    let (engine, _) = session::parts(request);
    let run = match engine
        .visible_run_detail(&session.caller, RunId::from(id))
        .await
    {
        Ok(detail) => detail.run,
        Err(EngineError::RunNotFound(_)) => return page::not_found(&session),
        Err(error) => return page::failed(&session, &error),
    };
    if let Some(page) = decided_elsewhere(&run.workflow, &run.input) {
        return Redirect::see_other(page).into_response();
    }
    let decided = engine
        .decide(
            RunId::from(id),
            form.step.trim(),
            &session.caller,
            decision,
            form.reason.trim(),
        )
        .await;
    match decided {
        Ok(_) => Redirect::see_other(format!("/console/runs/{id}")).into_response(),
        Err(EngineError::RunNotFound(_)) => page::not_found(&session),
        Err(error @ (EngineError::Database(_) | EngineError::Queue(_))) => {
            page::failed(&session, &error)
        }
        Err(error) => {
            let status = match &error {
                EngineError::Refused(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::CONFLICT,
            };
            let text = refusals::engine(&error).unwrap_or_else(|| error.to_string());
            timeline_page(request, &session, id, status, Some(text)).await
        }
    }
}
