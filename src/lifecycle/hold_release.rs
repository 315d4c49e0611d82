//! The handlers of `workflows/legal_hold_release.toml`. `prepare` writes the hold's
//! placer into the run's context from the hold itself (so whoever starts a release run
//! cannot choose who the approval policy refuses); `release` releases the hold once a
//! compliance lead approved, and is safe to repeat (a hold released or expired already is
//! left as it is).

use serde_json::json;
use sqlx::PgPool;

use super::store;
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::store::ids::HoldId;

/// What the handlers need.
#[derive(Debug, Clone)]
pub struct ReleaseDeps {
    /// Database.
    pub pool: PgPool,
}

/// Registers `lifecycle.prepare_hold_release` and `lifecycle.release_hold`.
pub fn register(registry: &mut HandlerRegistry, deps: ReleaseDeps) {
    register_handlers!(registry, deps, {
        "lifecycle.prepare_hold_release" => prepare,
        "lifecycle.release_hold" => release,
    });
}

type Outcome = Result<HandlerOutput, HandlerError>;

fn hold_id(call: &HandlerCall) -> Result<HoldId, HandlerError> {
    call.context["input"]["hold_id"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| HandlerError::Fatal("the run input has no valid `hold_id`".into()))
}

async fn prepare(deps: &ReleaseDeps, call: HandlerCall) -> Outcome {
    let id = hold_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    let hold = store::holds::get(&mut conn, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("legal hold {id} does not exist")))?;
    if hold.workspace_id.as_deref() != call_workspace(&mut conn, &call).await?.as_deref() {
        return Err(HandlerError::Fatal(
            "the run's workspace is not the hold's workspace".into(),
        ));
    }
    Ok(HandlerOutput::ok(json!({
        "placed_by": hold.placed_by,
        "kind": hold.kind,
        "status": hold.status,
    })))
}

async fn call_workspace(
    conn: &mut sqlx::PgConnection,
    call: &HandlerCall,
) -> Result<Option<String>, HandlerError> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("select workspace_id from runs where id = $1")
            .bind(call.run_id.uuid())
            .fetch_one(conn)
            .await?,
    )
}

async fn release(deps: &ReleaseDeps, call: HandlerCall) -> Outcome {
    let id = hold_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    let approvers = store::holds::approvers(&mut tx, call.run_id.uuid(), "approve").await?;
    let Some(hold) = store::holds::lock(&mut tx, id).await? else {
        return Err(HandlerError::Fatal(format!(
            "legal hold {id} does not exist"
        )));
    };
    // The policy refused the placer already; checked again against the hold itself.
    if approvers.is_empty() || approvers.contains(&hold.placed_by) {
        return Err(HandlerError::Fatal(
            "the release needs the approval of a compliance lead other than the placer".into(),
        ));
    }
    let released_by = approvers.join(",");
    let data = json!({ "run_id": call.run_id, "approved_by": approvers });
    let released = super::holds::release_in(&mut tx, id, &released_by, data).await?;
    tx.commit().await?;
    if released.is_none() {
        return Ok(HandlerOutput::ok(
            json!({ "released": false, "status": hold.status }),
        ));
    }
    Ok(HandlerOutput::ok(
        json!({ "released": true, "released_by": approvers }),
    ))
}
