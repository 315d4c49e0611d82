//! The handlers of `workflows/template_approval.toml`: submit a template (never twice,
//! even when a crash lost the answer to the first submission), poll its status as the
//! fallback to the webhook, and record the result.

use serde_json::json;

use super::deps::WhatsAppDeps;
use super::store;
use super::store::templates::TemplateRow;
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::meta::client::RemoteTemplate;

/// Registers `whatsapp.submit_template`, `whatsapp.poll_template`,
/// `whatsapp.record_template`.
pub fn register(registry: &mut HandlerRegistry, deps: WhatsAppDeps) {
    register_handlers!(registry, deps, {
        "whatsapp.submit_template" => submit,
        "whatsapp.poll_template" => poll,
        "whatsapp.record_template" => record,
    });
}

type Outcome = Result<HandlerOutput, HandlerError>;

async fn template_row(
    deps: &WhatsAppDeps,
    call: &HandlerCall,
) -> Result<TemplateRow, HandlerError> {
    let id = call.context["input"]["template"]
        .as_i64()
        .ok_or_else(|| HandlerError::Fatal("the run input has no `template`".into()))?;
    let mut conn = deps.pool.acquire().await?;
    store::templates::get(&mut conn, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("template {id} is gone")))
}

async fn waba(deps: &WhatsAppDeps, workspace: &str) -> Result<String, HandlerError> {
    let mut conn = deps.pool.acquire().await?;
    store::workspaces::get(&mut conn, workspace)
        .await?
        .and_then(|row| row.waba_id)
        .ok_or_else(|| HandlerError::Fatal("the workspace is not connected to WhatsApp yet".into()))
}

/// `decided` once Meta's review has a result, `ok` while it is pending.
fn outcome_for(status: &str) -> &'static str {
    if status == "PENDING" { "ok" } else { "decided" }
}

async fn save(
    deps: &WhatsAppDeps,
    row: &TemplateRow,
    remote: &RemoteTemplate,
    source: &str,
) -> Result<(), HandlerError> {
    let mut conn = deps.pool.acquire().await?;
    store::templates::record_status(
        &mut conn,
        row.id,
        Some(&remote.id),
        &remote.status,
        None,
        source,
    )
    .await
    .map_err(HandlerError::storage)
}

async fn submit(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let row = template_row(deps, &call).await?;
    if let Some(id) = &row.meta_template_id {
        return Ok(HandlerOutput {
            outcome: outcome_for(&row.status).to_owned(),
            output: json!({ "template_id": id, "status": row.status }),
        });
    }
    let token = deps.token(&workspace).await?;
    let waba = waba(deps, &workspace).await?;
    let context = WhatsAppDeps::context(&call, &workspace);
    // A crash after Meta accepted an earlier attempt but before we recorded it: Meta
    // knows the template already. Look before submitting, so it is never submitted twice.
    let existing = |templates: Vec<RemoteTemplate>| {
        templates
            .into_iter()
            .find(|t| t.language.as_deref() == Some(row.language.as_str()))
    };
    let known = match deps
        .graph
        .list_templates(&context, &token, &waba, Some(&row.name))
        .await
    {
        Ok(templates) => existing(templates),
        Err(error) => return Err(deps.graph_failure(&workspace, error).await),
    };
    let remote = match known {
        Some(remote) => remote,
        None => {
            let mut body = json!({
                "name": row.name, "language": row.language, "category": row.category,
                "components": row.components,
            });
            if let Some(seconds) = row.message_send_ttl_seconds {
                body["message_send_ttl_seconds"] = json!(seconds);
            }
            match deps
                .graph
                .create_template(&context, &token, &waba, &body)
                .await
            {
                Ok(created) => created,
                Err(error) => return Err(deps.graph_failure(&workspace, error).await),
            }
        }
    };
    save(deps, &row, &remote, "submission").await?;
    Ok(HandlerOutput {
        outcome: outcome_for(&remote.status).to_owned(),
        output: json!({ "template_id": remote.id, "status": remote.status }),
    })
}

async fn poll(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let row = template_row(deps, &call).await?;
    let Some(meta_id) = row.meta_template_id.clone() else {
        return Err(HandlerError::Fatal(
            "the template was never submitted".into(),
        ));
    };
    let token = deps.token(&workspace).await?;
    let context = WhatsAppDeps::context(&call, &workspace);
    let remote = match deps.graph.template_status(&context, &token, &meta_id).await {
        Ok(remote) => remote,
        Err(error) => return Err(deps.graph_failure(&workspace, error).await),
    };
    save(deps, &row, &remote, "poll").await?;
    let outcome = if remote.status == "PENDING" {
        "pending"
    } else {
        "decided"
    };
    Ok(HandlerOutput {
        outcome: outcome.to_owned(),
        output: json!({ "status": remote.status }),
    })
}

async fn record(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let row = template_row(deps, &call).await?;
    // The run's job is done either way; the template's status says how review went.
    Ok(HandlerOutput::ok(json!({
        "template_id": row.meta_template_id, "status": row.status, "reason": row.reason,
    })))
}
