//! The task handlers of `workflows/authority_request.toml`. Each reads the request from
//! its table (whoever started the run cannot choose what the policy compares) and moves
//! it on under a lock, guarded by its state, so a step repeated after a crash records
//! nothing twice: a hold is placed once, a package built once, a disclosure and each
//! notice recorded once, a request closed once.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::decisions::missing;
use super::instruments::Instrument;
use super::package;
use super::scope::Scope;
use super::store::disclosures;
use super::store::requests::{self as store, RequestRow};
use super::{ACTOR, timeline};
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::lifecycle::holds::{self, HoldScope, NewHold};
use crate::store::ids::HoldId;

/// How long the recipient may fetch a disclosed package's files.
pub const DOWNLOAD_DAYS: i64 = 30;

/// What the handlers need.
#[derive(Debug, Clone)]
pub struct AuthorityDeps {
    /// Database.
    pub pool: PgPool,
}

/// Registers the `authority.*` handlers.
pub fn register(registry: &mut HandlerRegistry, deps: AuthorityDeps) {
    register_handlers!(registry, deps, {
        "authority.open" => open,
        "authority.route_review" => route_review,
        "authority.clarification_lapsed" => clarification_lapsed,
        "authority.reopen_review" => reopen_review,
        "authority.preserve" => preserve,
        "authority.preservation_status" => preservation_status,
        "authority.package" => build_package,
        "authority.route_disclosure" => route_disclosure,
        "authority.disclose" => disclose,
        "authority.escalate_post_review" => escalate_post_review,
        "authority.record_post_review" => record_post_review,
        "authority.notify" => notify,
        "authority.close" => close,
    });
}

type Outcome = Result<HandlerOutput, HandlerError>;

fn outcome(name: &str, output: Value) -> HandlerOutput {
    HandlerOutput {
        outcome: name.to_owned(),
        output,
    }
}

fn request_id(call: &HandlerCall) -> Result<Uuid, HandlerError> {
    call.context["input"]["request_id"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| HandlerError::Fatal("the run input has no valid `request_id`".into()))
}

/// The request, locked for the rest of the transaction.
async fn locked(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<RequestRow, HandlerError> {
    store::lock(tx, id).await?.ok_or_else(|| missing(id))
}

fn emergency(row: &RequestRow) -> bool {
    row.instrument == Instrument::Emergency.as_str()
}

fn approved_scope(row: &RequestRow) -> Result<Scope, HandlerError> {
    row.approved_scope
        .as_ref()
        .and_then(Scope::from_json)
        .ok_or_else(|| {
            HandlerError::Fatal(format!(
                "authority request {} has no approved scope",
                row.id
            ))
        })
}

/// Moves the request to `status` and answers `name` (the review's way in).
async fn to_review(
    deps: &AuthorityDeps,
    call: &HandlerCall,
) -> Result<(RequestRow, &'static str), HandlerError> {
    let id = request_id(call)?;
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    let (status, way) = if emergency(&row) {
        ("awaiting_emergency_approval", "emergency")
    } else {
        ("in_review", "review")
    };
    store::set_status(&mut tx, id, status).await?;
    tx.commit().await?;
    Ok((row, way))
}

async fn open(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let (row, way) = to_review(deps, &call).await?;
    Ok(outcome(
        way,
        json!({ "filed_by": row.filed_by, "instrument": row.instrument }),
    ))
}

async fn reopen_review(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let (_, way) = to_review(deps, &call).await?;
    Ok(outcome(way, json!({})))
}

async fn route_review(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    let row = store::get(&mut conn, id)
        .await?
        .ok_or_else(|| missing(id))?;
    let verdict = row.verdict.clone().unwrap_or_default();
    match verdict.as_str() {
        "valid" | "invalid" | "needs_clarification" => {
            Ok(outcome(&verdict, json!({ "verdict": verdict })))
        }
        other => Err(HandlerError::Fatal(format!(
            "authority request {id} has no recorded verdict (`{other}`)"
        ))),
    }
}

async fn clarification_lapsed(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    if row.status == "needs_clarification" {
        store::set_status(&mut tx, id, "clarification_lapsed").await?;
        timeline::record(
            &mut tx,
            id,
            "clarification_lapsed",
            ACTOR,
            json!({}),
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(HandlerOutput::ok(json!({})))
}

/// The holds that preserve `scope`: one per approved workspace (or one across all, for
/// customers named without workspaces).
fn holds_for(row: &RequestRow, scope: &Scope) -> Vec<NewHold> {
    let preservation_only = row.instrument == Instrument::Preservation.as_str();
    let categories = Some(
        scope
            .categories
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    );
    let workspaces: Vec<Option<String>> = match &scope.workspaces {
        Some(workspaces) => workspaces.iter().cloned().map(Some).collect(),
        None => vec![None],
    };
    workspaces
        .into_iter()
        .map(|workspace_id| NewHold {
            // A preservation request's hold lasts 90 days (one renewal); any other
            // request's lasts until the request closes.
            kind: if preservation_only {
                "preservation"
            } else {
                "regulatory"
            }
            .to_owned(),
            scope: HoldScope {
                workspace_id,
                customers: scope.customers.clone(),
                categories: categories.clone(),
                from: scope.from,
                to: scope.to,
            },
            reason: format!("authority request {} ({})", row.id, row.instrument),
            matter_ref: row.reference.clone(),
            expires_at: None,
        })
        .collect()
}

async fn preserve(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    let preservation_only = row.instrument == Instrument::Preservation.as_str();
    let hold_ids = if row.hold_ids.is_empty() {
        let scope = approved_scope(&row)?;
        let mut placed = Vec::new();
        for hold in holds_for(&row, &scope) {
            let workspace = hold.scope.workspace_id.clone();
            let held = holds::place_in(&mut tx, ACTOR, workspace.as_deref(), &hold)
                .await
                .map_err(|error| {
                    HandlerError::Fatal(format!("the preservation hold was refused: {error}"))
                })?;
            placed.push(held.id);
        }
        store::set_holds(&mut tx, id, &placed).await?;
        timeline::record(
            &mut tx,
            id,
            "preserved",
            ACTOR,
            json!({ "hold_ids": placed, "scope": row.approved_scope }),
            json!({ "hold_ids": placed }),
        )
        .await?;
        placed
    } else {
        row.hold_ids.clone()
    };
    store::set_status(
        &mut tx,
        id,
        if preservation_only {
            "preserving"
        } else {
            "packaging"
        },
    )
    .await?;
    tx.commit().await?;
    Ok(outcome(
        if preservation_only {
            "preservation_only"
        } else {
            "produce"
        },
        json!({ "hold_ids": hold_ids }),
    ))
}

async fn preservation_status(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    let row = store::get(&mut conn, id)
        .await?
        .ok_or_else(|| missing(id))?;
    let now = Utc::now();
    let mut until: Option<DateTime<Utc>> = None;
    for hold in &row.hold_ids {
        let Some(hold) =
            crate::lifecycle::store::holds::get(&mut conn, HoldId::from(*hold)).await?
        else {
            continue;
        };
        if hold.status == "active"
            && let Some(expires_at) = hold.expires_at.filter(|at| *at > now)
        {
            until = Some(until.map_or(expires_at, |u| u.max(expires_at)));
        }
    }
    Ok(match until {
        Some(until) => outcome("holding", json!({ "until": until })),
        None => outcome("ended", json!({})),
    })
}

async fn build_package(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    let row = store::get(&mut conn, id)
        .await?
        .ok_or_else(|| missing(id))?;
    if let Some(existing) = disclosures::package(&mut conn, id).await? {
        return Ok(HandlerOutput::ok(json!({ "sha256": existing.sha256 })));
    }
    drop(conn);
    let scope = approved_scope(&row)?;
    let built = package::build(&deps.pool, &row, &scope).await?;
    let mut tx = deps.pool.begin().await?;
    locked(&mut tx, id).await?;
    disclosures::put_package(&mut tx, id, &built.manifest, &built.sha256, &built.files).await?;
    store::set_package(&mut tx, id, &built.sha256).await?;
    timeline::record(
        &mut tx,
        id,
        "package_built",
        ACTOR,
        json!({ "sha256": built.sha256, "manifest": built.manifest }),
        json!({ "package_sha256": built.sha256 }),
    )
    .await?;
    tx.commit().await?;
    Ok(HandlerOutput::ok(json!({ "sha256": built.sha256 })))
}

async fn route_disclosure(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    let row = store::get(&mut conn, id)
        .await?
        .ok_or_else(|| missing(id))?;
    Ok(outcome(
        if emergency(&row) {
            "emergency"
        } else {
            "approval"
        },
        json!({}),
    ))
}

/// Who approved the disclosure: the lead of the disclosure approval, or of the emergency.
fn approver(call: &HandlerCall) -> Option<String> {
    ["disclosure_approval", "emergency_approval"]
        .iter()
        .find_map(|step| call.context["steps"][step]["decided_by"].as_str())
        .map(str::to_owned)
}

async fn disclose(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let by = approver(&call).ok_or_else(|| {
        HandlerError::Fatal("a disclosure needs a compliance lead's approval".into())
    })?;
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    if store::set_disclosed(&mut tx, id, &by).await? {
        let now = Utc::now();
        disclosures::open_window(&mut tx, id, now + Duration::days(DOWNLOAD_DAYS)).await?;
        timeline::record(
            &mut tx,
            id,
            "disclosed",
            &by,
            json!({
                "package_sha256": row.package_sha256, "basis": row.basis,
                "recipient": row.recipient, "at": now, "approved_by": by,
                "emergency": emergency(&row),
            }),
            json!({ "package_sha256": row.package_sha256 }),
        )
        .await?;
    }
    if emergency(&row) {
        store::set_status(&mut tx, id, "awaiting_post_review").await?;
    }
    tx.commit().await?;
    Ok(outcome(
        if emergency(&row) { "emergency" } else { "done" },
        json!({ "disclosed_by": by }),
    ))
}

async fn escalate_post_review(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    if row.status != "post_review_overdue" {
        store::set_status(&mut tx, id, "post_review_overdue").await?;
        timeline::record(
            &mut tx,
            id,
            "post_review_overdue",
            ACTOR,
            json!({ "disclosed_at": row.disclosed_at, "within_hours": 48 }),
            json!({}),
        )
        .await?;
        tracing::warn!(request.id = %id, "an emergency disclosure's post-review is overdue");
    }
    tx.commit().await?;
    Ok(HandlerOutput::ok(json!({ "escalated": true })))
}

async fn record_post_review(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    store::set_status(&mut conn, id, "notifying").await?;
    let finding = ["post_review", "late_post_review"]
        .iter()
        .find_map(|step| call.context["steps"][step]["decision"].as_str())
        .unwrap_or("approved");
    Ok(HandlerOutput::ok(json!({ "sound": finding == "approved" })))
}

fn notice_body(row: &RequestRow) -> Value {
    json!({
        "request_id": row.id,
        "authority": row.authority,
        "jurisdiction": row.jurisdiction,
        "instrument": row.instrument,
        "reference": row.reference,
        "disclosed_at": row.disclosed_at,
        "categories": row.approved_scope.as_ref().map(|scope| scope["categories"].clone()),
        "package_sha256": row.package_sha256,
    })
}

async fn notify(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let now = Utc::now();
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    let workspaces: Vec<String> = disclosures::package(&mut tx, id)
        .await?
        .and_then(|package| serde_json::from_value(package.manifest["workspaces"].clone()).ok())
        .unwrap_or_default();
    let body = notice_body(&row);
    let (status, send_at, result) = match (row.nondisclosure_ordered, row.nondisclosure_until) {
        (true, None) => ("withheld", None, "withheld"),
        (true, Some(until)) if until > now => ("scheduled", Some(until), "delayed"),
        _ => ("sent", None, "sent"),
    };
    let mut sent = Vec::new();
    for workspace in &workspaces {
        if disclosures::put_notice(&mut tx, id, workspace, status, send_at, &body).await? {
            sent.push(workspace.clone());
        }
    }
    let kind = match result {
        "sent" => (!sent.is_empty()).then_some("notice_sent"),
        "delayed" => (!store::has_event(&mut tx, id, "notice_scheduled").await?)
            .then_some("notice_scheduled"),
        _ => {
            (!store::has_event(&mut tx, id, "notice_withheld").await?).then_some("notice_withheld")
        }
    };
    if let Some(kind) = kind {
        let told = if result == "sent" { &sent } else { &workspaces };
        timeline::record(
            &mut tx,
            id,
            kind,
            ACTOR,
            json!({ "workspaces": told, "send_at": send_at, "notice": body }),
            json!({ "workspaces": told }),
        )
        .await?;
    }
    store::set_status(
        &mut tx,
        id,
        if result == "delayed" {
            "notice_delayed"
        } else {
            "notifying"
        },
    )
    .await?;
    tx.commit().await?;
    Ok(outcome(
        result,
        json!({ "send_at": send_at, "workspaces": workspaces }),
    ))
}

async fn close(deps: &AuthorityDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let closing = call.params["outcome"]
        .as_str()
        .ok_or_else(|| HandlerError::Fatal("`authority.close` needs params.outcome".into()))?
        .to_owned();
    let mut tx = deps.pool.begin().await?;
    let row = locked(&mut tx, id).await?;
    if store::close(&mut tx, id, &closing).await? {
        let mut released = Vec::new();
        for hold in &row.hold_ids {
            let data = json!({ "authority_request_id": id });
            if holds::release_in(&mut tx, HoldId::from(*hold), ACTOR, data)
                .await?
                .is_some()
            {
                released.push(*hold);
            }
        }
        timeline::record(
            &mut tx,
            id,
            "closed",
            ACTOR,
            json!({
                "outcome": closing, "verdict": row.verdict, "reason": row.verdict_reason,
                "released_holds": released,
            }),
            json!({ "outcome": closing, "released_holds": released }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(HandlerOutput::ok(json!({ "outcome": closing })))
}
