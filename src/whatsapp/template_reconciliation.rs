//! `whatsapp.reconcile_templates`, the task of `workflows/template_reconciliation.toml`,
//! which `jobs/template_reconciliation.toml` runs on a schedule: a template whose approval
//! run ended without a result (Meta unreachable through every retry, a cancelled run)
//! stays `PENDING` here while Meta decided long ago. This asks Meta for each such
//! template's status and records it (source `reconciliation`). Idempotent: a second pass
//! finds nothing left to change.

use serde::Deserialize;
use serde_json::json;

use super::deps::WhatsAppDeps;
use super::store;
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::meta::client::CallContext;

/// Registers `whatsapp.reconcile_templates`.
pub fn register(registry: &mut HandlerRegistry, deps: WhatsAppDeps) {
    register_handlers!(registry, deps, {
        "whatsapp.reconcile_templates" => reconcile,
    });
}

/// The schedule's input.
#[derive(Debug, Deserialize)]
struct ReconcileInput {
    /// Templates looked at per run.
    #[serde(default = "default_limit")]
    limit: i64,
    /// How long a template must have gone unchanged, in seconds: a template a live run
    /// is about to settle is left to it.
    #[serde(default = "default_quiet")]
    quiet_seconds: f64,
}

fn default_limit() -> i64 {
    100
}

fn default_quiet() -> f64 {
    3_600.0
}

async fn reconcile(deps: &WhatsAppDeps, call: HandlerCall) -> Result<HandlerOutput, HandlerError> {
    let input: ReconcileInput = call.input()?;
    let mut conn = deps.pool.acquire().await?;
    let stale =
        store::templates::stale_pending(&mut conn, input.quiet_seconds, input.limit).await?;
    drop(conn);
    let (mut changed, mut unreachable) = (0, 0);
    for template in &stale {
        let token = match deps.token(&template.workspace_id).await {
            Ok(token) => token,
            // A closed or disconnected workspace has no token: nothing to ask Meta with.
            Err(HandlerError::Fatal(_)) => {
                unreachable += 1;
                continue;
            }
            Err(error) => return Err(error),
        };
        let context = CallContext {
            workspace_id: Some(template.workspace_id.clone()),
            run_id: Some(call.run_id.uuid()),
            step_id: Some(call.step_id.clone()),
        };
        match deps
            .graph
            .template_status(&context, &token, &template.meta_template_id)
            .await
        {
            Ok(remote) if remote.status != "PENDING" => {
                let mut conn = deps.pool.acquire().await?;
                store::templates::record_status(
                    &mut conn,
                    template.id,
                    None,
                    &remote.status,
                    None,
                    "reconciliation",
                )
                .await?;
                changed += 1;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(
                    template.id = template.id,
                    workspace.id = %template.workspace_id,
                    error = %error,
                    "could not read a template's status from Meta; the next pass tries again"
                );
                unreachable += 1;
            }
        }
    }
    Ok(HandlerOutput::ok(json!({
        "checked": stale.len(), "changed": changed, "unreachable": unreachable,
    })))
}
