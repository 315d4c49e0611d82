//! The verification steps of `workflows/privacy_request.toml`: `send_code` sends a
//! one-time code to the customer's WhatsApp number ([`super::verification`] keeps its
//! digest), `check_verification` decides what follows a verification event.

use serde_json::json;
use uuid::Uuid;

use super::ACTOR;
use super::handlers::{Outcome, PrivacyDeps, outcome, request, request_id, workspace_of};
use super::store::requests as store;
use super::verification;
use crate::engine::handlers::{HandlerCall, HandlerError};
use crate::meta::client::CallContext;
use crate::meta::wire::TemplateMessage;

/// Why a code cannot be sent, as the step's output (the request keeps waiting, and the
/// reason shows in its timeline).
async fn cannot_send(deps: &PrivacyDeps, id: Uuid, reason: String) -> Outcome {
    let mut conn = deps.pool.acquire().await?;
    let detail = json!({ "reason": reason });
    store::add_event_once(&mut conn, id, "code_not_sent", ACTOR, &detail).await?;
    Ok(outcome("cannot_send", detail))
}

pub(super) async fn send_code(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
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
    let whatsapp = deps.whatsapp();
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

pub(super) async fn check_verification(deps: &PrivacyDeps, call: HandlerCall) -> Outcome {
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
