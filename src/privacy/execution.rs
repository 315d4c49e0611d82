//! The `execute` step of `workflows/privacy_request.toml`: a deletion erases what no hold
//! covers through the erasure engine (and waits for the holds on the rest), an access
//! request builds its package, a disconnect deregisters and unsubscribes at Meta and wipes
//! the token, a Meta user's deletion records that nothing is linked to Meta users. Each
//! is safe to repeat after a crash or a retry.

use serde_json::{Value, json};
use uuid::Uuid;

use super::ACTOR;
use super::handlers::{
    HOLDS_CLEARED, Outcome, PrivacyDeps, outcome, record_decision, request, request_id,
    workspace_of,
};
use super::packages;
use super::store::requests::{self as store, RequestRow};
use crate::engine::handlers::{HandlerCall, HandlerError};
use crate::lifecycle::erasure::{self, Receipt, Subject};
use crate::lifecycle::hold_waits;
use crate::lifecycle::purge::PurgeSettings;
use crate::meta::client::CallContext;
use crate::security::audit::{self, AuditEntry};
use crate::store::ids::WorkspaceId;

/// The subject of a request, as the erasure engine names it (`None`: erased already).
fn subject(row: &RequestRow) -> Option<Subject> {
    match (&row.customer, &row.customer_sha256, &row.workspace_id) {
        (Some(wa_id), _, workspace) => Some(Subject::Customer {
            workspace_id: workspace.clone(),
            wa_id: wa_id.clone(),
        }),
        (None, None, Some(workspace)) => Some(Subject::Workspace(workspace.clone())),
        _ => None,
    }
}

pub(super) async fn execute(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let row = request(&deps.pool, id).await?;
    if row.meta_user_sha256.is_some() {
        return meta_user_deletion(deps, &row).await;
    }
    let Some(subject) = subject(&row) else {
        return Err(HandlerError::Fatal(format!(
            "privacy request {id} no longer names its subject"
        )));
    };
    {
        let mut conn = deps.pool.acquire().await?;
        record_decision(&mut conn, id, &call, "lead_approval").await?;
        store::set_status(&mut conn, id, "executing").await?;
    }
    match row.kind.as_str() {
        "deletion" => delete(deps, &call, &row, &subject).await,
        "access" => export(deps, &row, &subject).await,
        "disconnect" => disconnect(deps, &call, &row).await,
        other => Err(HandlerError::Fatal(format!(
            "{other} requests are not executed by this version"
        ))),
    }
}

/// What a deletion for a Meta user (Meta's data deletion callback) finds: the platform
/// keeps business accounts and their customers, and no record names a Meta user, so
/// there is nothing to erase; the request records that, in plain words, as its receipt.
pub const NO_META_USER_DATA: &str = "No record of the platform is linked to a Meta user account: it stores business accounts (their WhatsApp Business Account and phone number ids) and their customers' messages, never Meta user profiles.";

async fn meta_user_deletion(deps: &PrivacyDeps, row: &RequestRow) -> Outcome {
    let receipts = json!({ "executions": [[]], "totals": { "rows": 0, "held": 0 }, "finding": NO_META_USER_DATA });
    let mut tx = deps.pool.begin().await?;
    store::set_outcome(&mut tx, row.id, "executing", &receipts, &[]).await?;
    store::add_event_once(
        &mut tx,
        row.id,
        "erased",
        ACTOR,
        &json!({ "deleted": 0, "held": 0 }),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome("done", json!({ "deleted": 0 })))
}

/// An access request: the subject's records as a package (holds do not stop a copy).
async fn export(deps: &PrivacyDeps, row: &RequestRow, subject: &Subject) -> Outcome {
    let id = row.id;
    let (receipts, manifest) = packages::build(&deps.pool, row, subject)
        .await
        .map_err(|error| HandlerError::Retryable(error.to_string()))?;
    let summary = receipts_json(None, &receipts);
    let mut tx = deps.pool.begin().await?;
    store::set_outcome(&mut tx, id, "executing", &summary, &[]).await?;
    let files: Vec<Value> = manifest["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|file| json!({ "name": file["name"], "sha256": file["sha256"], "rows": file["rows"] }))
        .collect();
    let detail = json!({ "files": files, "rows": summary["totals"]["rows"] });
    store::add_event_once(&mut tx, id, "exported", ACTOR, &detail).await?;
    let mut data = detail.clone();
    data["request_id"] = json!(id);
    let entry = AuditEntry::now(
        ACTOR,
        "privacy_request.exported",
        format!("privacy_request:{id}"),
        row.workspace_id.as_deref(),
        data,
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(outcome("done", detail))
}

/// A disconnect request: the number deregistered and the app unsubscribed at Meta, then
/// the token wiped and the workspace marked `disconnected`. Repeated after a crash, the
/// Meta calls are made again (both are idempotent there) or, once the token is gone,
/// skipped.
async fn disconnect(deps: &PrivacyDeps, call: &HandlerCall, row: &RequestRow) -> Outcome {
    let id = row.id;
    let whatsapp = deps.whatsapp();
    let name = workspace_of(row)?;
    let workspace =
        WorkspaceId::parse(name).map_err(|error| HandlerError::Fatal(error.to_string()))?;
    let (waba, phone) = whatsapp.connection(name).await?;
    let context = CallContext {
        workspace_id: row.workspace_id.clone(),
        run_id: Some(call.run_id.uuid()),
        step_id: Some(call.step_id.clone()),
    };
    let token = whatsapp.token(name).await.ok();
    if let Some(token) = &token {
        if let Some(phone) = &phone
            && let Err(error) = deps.graph.deregister_phone(&context, token, phone).await
        {
            return Err(whatsapp.graph_failure(name, error).await);
        }
        if let Some(waba) = &waba
            && let Err(error) = deps.graph.unsubscribe_app(&context, token, waba).await
        {
            return Err(whatsapp.graph_failure(name, error).await);
        }
    }
    crate::whatsapp::workspaces::disconnect_on_behalf(
        &deps.pool,
        ACTOR,
        &workspace,
        &format!("disconnect request {id}"),
    )
    .await
    .map_err(|error| HandlerError::Retryable(error.to_string()))?;
    let detail = json!({
        "phone_number_id": phone, "waba_id": waba,
        "at_meta": token.is_some(),
    });
    let mut tx = deps.pool.begin().await?;
    store::set_outcome(
        &mut tx,
        id,
        "executing",
        &json!({ "disconnect": detail }),
        &[],
    )
    .await?;
    store::add_event_once(&mut tx, id, "disconnected", ACTOR, &detail).await?;
    let mut data = detail.clone();
    data["request_id"] = json!(id);
    let entry = AuditEntry::now(
        ACTOR,
        "privacy_request.disconnected",
        format!("privacy_request:{id}"),
        row.workspace_id.as_deref(),
        data,
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(outcome("done", detail))
}

/// A deletion request: erases what no hold covers; waits for the holds on the rest.
async fn delete(
    deps: &PrivacyDeps,
    call: &HandlerCall,
    row: &RequestRow,
    subject: &Subject,
) -> Outcome {
    let id = row.id;
    let subject = subject.clone();
    if let Subject::Workspace(workspace) = &subject {
        // A business account is erased closed: it takes no new work meanwhile.
        let workspace = WorkspaceId::parse(workspace)
            .map_err(|error| HandlerError::Fatal(error.to_string()))?;
        crate::whatsapp::workspaces::close_on_behalf(
            &deps.pool,
            ACTOR,
            &workspace,
            &format!("deletion request {id}"),
        )
        .await
        .map_err(|error| HandlerError::Retryable(error.to_string()))?;
    }
    // One tally per execution: a repeat after a crash counts on where the killed one
    // stopped; the execution after a hold's release counts afresh.
    let executions = row
        .receipts
        .as_ref()
        .and_then(|r| r["executions"].as_array().map(Vec::len))
        .unwrap_or(0);
    let tally = format!("privacy_request:{id}:{}", executions + 1);
    let receipts = erasure::erase_tallied(
        &deps.pool,
        &subject,
        None,
        &format!("privacy_request:{id}"),
        &PurgeSettings::default(),
        Some(&tally),
    )
    .await
    .map_err(|error| HandlerError::Retryable(error.to_string()))?;
    let unsettled: i64 = receipts.iter().map(|r| r.unsettled).sum();
    if unsettled > 0 {
        // Records of runs under way or deliveries not processed yet: erased on a retry.
        return Err(HandlerError::Retryable(format!(
            "{unsettled} of the subject's records are not settled yet (runs under way, deliveries not processed); erasing again later"
        )));
    }
    let mut hold_ids: Vec<Uuid> = receipts.iter().flat_map(|r| r.hold_ids.clone()).collect();
    hold_ids.sort();
    hold_ids.dedup();
    let held: i64 = receipts.iter().map(|r| r.held).sum();
    let summary = receipts_json(row.receipts.as_ref(), &receipts);
    let mut tx = deps.pool.begin().await?;
    let status = if held > 0 { "on_hold" } else { "executing" };
    store::set_outcome(&mut tx, id, status, &summary, &hold_ids).await?;
    let detail =
        json!({ "deleted": summary["totals"]["rows"], "held": held, "hold_ids": hold_ids });
    store::add_event(
        &mut tx,
        id,
        if held > 0 { "on_hold" } else { "erased" },
        ACTOR,
        &detail,
    )
    .await?;
    if held > 0 {
        hold_waits::wait_for(
            &mut tx,
            call.run_id.uuid(),
            HOLDS_CLEARED,
            &id.to_string(),
            &hold_ids,
        )
        .await?;
        let entry = AuditEntry::now(
            ACTOR,
            "privacy_request.on_hold",
            format!("privacy_request:{id}"),
            row.workspace_id.as_deref(),
            json!({ "request_id": id, "held": held, "hold_ids": hold_ids }),
        );
        audit::append(&mut tx, &[entry]).await?;
    }
    tx.commit().await?;
    Ok(outcome(
        if held > 0 { "held" } else { "done" },
        json!({ "held": held, "hold_ids": hold_ids, "totals": summary["totals"] }),
    ))
}

/// The request's receipts after one more execution: each execution's receipts, and
/// totals over all of them (rows acted on; held as of the latest).
fn receipts_json(before: Option<&Value>, receipts: &[Receipt]) -> Value {
    let mut executions = before
        .and_then(|value| value["executions"].as_array().cloned())
        .unwrap_or_default();
    executions.push(json!(
        receipts.iter().map(Receipt::json).collect::<Vec<_>>()
    ));
    let rows: i64 = executions
        .iter()
        .flat_map(|execution| execution.as_array().cloned().unwrap_or_default())
        .map(|receipt| receipt["rows"].as_i64().unwrap_or(0))
        .sum();
    let held: i64 = receipts.iter().map(|r| r.held).sum();
    json!({ "executions": executions, "totals": { "rows": rows, "held": held } })
}
