//! The task handlers of `workflows/privacy_request.toml`: `open` (is the requester
//! verified?), `send_code` and `check_verification` (a one-time code to the customer's
//! WhatsApp number), `route` (records the review; does it need a lead?), `execute`
//! (erases what no hold covers, and waits for the holds on the rest) and `close`. Each reads the
//! request from its table, so whoever started the run cannot choose what the approval
//! policy compares; each is safe to repeat after a crash (erasing again deletes nothing
//! more, a closed request stays closed).

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::store::requests::{self as store, RequestRow};
use super::{ACTOR, DENIAL_REASONS, packages, verification};
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::lifecycle::erasure::{self, Receipt, Subject};
use crate::lifecycle::hold_waits;
use crate::lifecycle::purge::PurgeSettings;
use crate::meta::client::{CallContext, GraphClient};
use crate::meta::wire::TemplateMessage;
use crate::security::audit::{self, AuditEntry};
use crate::security::secret_box::SecretBox;
use crate::store::ids::WorkspaceId;
use crate::whatsapp::deps::WhatsAppDeps;

/// The event a request waiting for holds is woken by.
pub const HOLDS_CLEARED: &str = "legal_holds_cleared";

/// What the handlers need.
#[derive(Debug, Clone)]
pub struct PrivacyDeps {
    /// Database.
    pub pool: PgPool,
    /// Graph API (or the sandbox), for the verification codes.
    pub graph: GraphClient,
    /// Seals tokens and digests codes.
    pub secrets: SecretBox,
}

/// Registers the `privacy.*` handlers.
pub fn register(registry: &mut HandlerRegistry, deps: PrivacyDeps) {
    register_handlers!(registry, deps, {
        "privacy.open" => open,
        "privacy.send_code" => send_code,
        "privacy.check_verification" => check_verification,
        "privacy.route" => route,
        "privacy.execute" => execute,
        "privacy.close" => close,
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

async fn request(pool: &PgPool, id: Uuid) -> Result<RequestRow, HandlerError> {
    let mut conn = pool.acquire().await?;
    store::get(&mut conn, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("privacy request {id} does not exist")))
}

/// The business account a request concerns (a Meta user's callback request has none).
fn workspace_of(row: &RequestRow) -> Result<&str, HandlerError> {
    row.workspace_id.as_deref().ok_or_else(|| {
        HandlerError::Fatal(format!(
            "privacy request {} concerns no business account",
            row.id
        ))
    })
}

fn subject_kind(row: &RequestRow) -> &'static str {
    if row.customer_sha256.is_some() {
        "customer"
    } else {
        "workspace"
    }
}

/// Whether the request needs a compliance lead's approval besides the review: deleting
/// or disconnecting a whole business account.
pub fn needs_lead(row: &RequestRow) -> bool {
    let whole_account = row.workspace_id.is_some() && row.customer_sha256.is_none();
    whole_account && matches!(row.kind.as_str(), "deletion" | "disconnect")
}

async fn open(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let row = request(&deps.pool, id).await?;
    let verified = row.verified_at.is_some();
    let mut conn = deps.pool.acquire().await?;
    store::set_status(
        &mut conn,
        id,
        if verified { "in_review" } else { "verifying" },
    )
    .await?;
    let output = json!({
        "filed_by": row.filed_by,
        "kind": row.kind,
        "subject": subject_kind(&row),
        "verified": verified,
    });
    Ok(outcome(
        if verified { "verified" } else { "unverified" },
        output,
    ))
}

/// Why a code cannot be sent, as the step's output (the request keeps waiting, and the
/// reason shows in its timeline).
async fn cannot_send(deps: &PrivacyDeps, id: Uuid, reason: String) -> Outcome {
    let mut conn = deps.pool.acquire().await?;
    let detail = json!({ "reason": reason });
    store::add_event_once(&mut conn, id, "code_not_sent", ACTOR, &detail).await?;
    Ok(outcome("cannot_send", detail))
}

async fn send_code(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let row = request(&deps.pool, id).await?;
    if row.verified_at.is_some() {
        return Ok(outcome("verified", json!({ "verified": true })));
    }
    let Some(wa_id) = row.customer.clone() else {
        return cannot_send(
            deps,
            id,
            "a business account is verified by a request made with its own key".into(),
        )
        .await;
    };
    let workspace = workspace_of(&row)?;
    let template = call.params["template"]
        .as_str()
        .unwrap_or("privacy_verification_code");
    let language = call.params["language"].as_str().unwrap_or("en_US");
    let whatsapp = WhatsAppDeps {
        pool: deps.pool.clone(),
        graph: deps.graph.clone(),
        secrets: deps.secrets.clone(),
    };
    let Some(phone) = whatsapp.phone_number_id(workspace).await? else {
        return cannot_send(
            deps,
            id,
            "the workspace has no connected WhatsApp number".into(),
        )
        .await;
    };
    let token = match whatsapp.token(workspace).await {
        Ok(token) => token,
        Err(error) => return cannot_send(deps, id, error.to_string()).await,
    };
    let mut conn = deps.pool.acquire().await?;
    let (code, seq, expires_at) = verification::issue(&mut conn, &deps.secrets, id).await?;
    drop(conn);
    let parameters = [code.clone()];
    let callback = format!("privacy_request:{id}");
    let message = TemplateMessage {
        to: &wa_id,
        template,
        language,
        parameters: &parameters,
        callback_data: Some(&callback),
        copy_code: Some(&code),
    };
    let context = CallContext {
        workspace_id: row.workspace_id.clone(),
        run_id: Some(call.run_id.uuid()),
        step_id: Some(call.step_id.clone()),
    };
    let sent = match deps
        .graph
        .send_template(&context, &token, &phone, &message)
        .await
    {
        Ok(sent) => sent,
        Err(error) => {
            let failure = whatsapp.graph_failure(workspace, error).await;
            return match failure {
                // Meta refused for good (no such approved template, ...): say why, wait.
                HandlerError::Fatal(reason) => cannot_send(deps, id, reason).await,
                retry => Err(retry),
            };
        }
    };
    let mut tx = deps.pool.begin().await?;
    super::store::codes::set_message(&mut tx, id, seq, &sent.id).await?;
    let detail = json!({ "seq": seq, "expires_at": expires_at, "message_id": sent.id, "template": template });
    store::add_event(&mut tx, id, "code_sent", ACTOR, &detail).await?;
    tx.commit().await?;
    Ok(outcome("sent", detail))
}

async fn check_verification(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let row = request(&deps.pool, id).await?;
    let name = if row.verified_at.is_some() {
        "verified"
    } else if verification::too_late(row.received_at, chrono::Utc::now()) {
        "expired"
    } else {
        "reissue"
    };
    Ok(outcome(
        name,
        json!({ "verified": row.verified_at.is_some() }),
    ))
}

/// Records a decision of `step` (from the run's context) in the request's timeline once.
async fn record_decision(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    call: &HandlerCall,
    step: &str,
) -> Result<(), HandlerError> {
    let decision = &call.context["steps"][step];
    let Some(decided_by) = decision["decided_by"].as_str() else {
        return Ok(());
    };
    let kind = format!(
        "{step}_{}",
        decision["decision"].as_str().unwrap_or("decided")
    );
    store::add_event_once(
        conn,
        id,
        &kind,
        decided_by,
        &json!({ "step": step, "run_id": call.run_id }),
    )
    .await?;
    Ok(())
}

async fn route(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let row = request(&deps.pool, id).await?;
    let lead = needs_lead(&row);
    let mut tx = deps.pool.begin().await?;
    record_decision(&mut tx, id, &call, "review").await?;
    store::set_status(
        &mut tx,
        id,
        if lead {
            "awaiting_second_approval"
        } else {
            "executing"
        },
    )
    .await?;
    tx.commit().await?;
    Ok(outcome(
        if lead { "second_approval" } else { "proceed" },
        json!({ "second_approval": lead }),
    ))
}

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

async fn execute(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
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
    let whatsapp = WhatsAppDeps {
        pool: deps.pool.clone(),
        graph: deps.graph.clone(),
        secrets: deps.secrets.clone(),
    };
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

/// The denial reason of a rejected approval: the code its reason starts with
/// (`code: note`), or `unspecified`.
fn denial_reason(call: &HandlerCall) -> (String, Option<String>) {
    for step in ["lead_approval", "review"] {
        let decision = &call.context["steps"][step];
        if decision["decision"] == "reject" {
            let reason = decision["reason"].as_str().unwrap_or_default();
            let code = reason.split(':').next().unwrap_or_default().trim();
            let code = if DENIAL_REASONS.contains(&code) {
                code
            } else {
                "unspecified"
            };
            return (
                code.to_owned(),
                decision["decided_by"].as_str().map(str::to_owned),
            );
        }
    }
    ("unspecified".to_owned(), None)
}

async fn close(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
    let id = request_id(&call)?;
    let status = call.params["status"]
        .as_str()
        .ok_or_else(|| HandlerError::Fatal("`privacy.close` needs params.status".into()))?
        .to_owned();
    let row = request(&deps.pool, id).await?;
    let (reason, decided_by) = match status.as_str() {
        "denied" => {
            let (code, by) = denial_reason(&call);
            (Some(code), by)
        }
        _ => (None, None),
    };
    let mut tx = deps.pool.begin().await?;
    let erase_subject = status == "completed" && row.kind == "deletion";
    if store::close(&mut tx, id, &status, reason.as_deref(), erase_subject).await? {
        let detail = json!({ "status": status, "denial_reason": reason, "decided_by": decided_by });
        store::add_event(&mut tx, id, &status, ACTOR, &detail).await?;
        let entry = AuditEntry::now(
            decided_by.as_deref().unwrap_or(ACTOR),
            "privacy_request.closed",
            format!("privacy_request:{id}"),
            row.workspace_id.as_deref(),
            json!({ "request_id": id, "status": status, "denial_reason": reason }),
        );
        audit::append(&mut tx, &[entry]).await?;
    }
    tx.commit().await?;
    Ok(HandlerOutput::ok(
        json!({ "status": status, "denial_reason": reason }),
    ))
}
