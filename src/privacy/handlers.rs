//! The task handlers of `workflows/privacy_request.toml`, and what they share: `open` (is
//! the requester verified?), `route` (records the review; does it need a lead?) and
//! `close` here; `send_code` and `check_verification` in [`super::code_steps`]; `execute`
//! in [`super::execution`]. Each reads the
//! request from its table, so whoever started the run cannot choose what the approval
//! policy compares; each is safe to repeat after a crash (erasing again deletes nothing
//! more, a closed request stays closed).

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::store::requests::{self as store, RequestRow};
use super::{ACTOR, DENIAL_REASONS};
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::meta::client::GraphClient;
use crate::security::audit::{self, AuditEntry};
use crate::security::secret_box::SecretBox;

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

impl PrivacyDeps {
    /// The WhatsApp domain's view of the same parts (tokens, numbers, Graph failures).
    pub(super) fn whatsapp(&self) -> crate::whatsapp::deps::WhatsAppDeps {
        crate::whatsapp::deps::WhatsAppDeps {
            pool: self.pool.clone(),
            graph: self.graph.clone(),
            secrets: self.secrets.clone(),
        }
    }
}

/// Registers the `privacy.*` handlers.
pub fn register(registry: &mut HandlerRegistry, deps: PrivacyDeps) {
    register_handlers!(registry, deps, {
        "privacy.open" => open,
        "privacy.send_code" => super::code_steps::send_code,
        "privacy.check_verification" => super::code_steps::check_verification,
        "privacy.route" => route,
        "privacy.execute" => super::execution::execute,
        "privacy.close" => close,
    });
}

pub(super) type Outcome = Result<HandlerOutput, HandlerError>;

pub(super) fn outcome(name: &str, output: Value) -> HandlerOutput {
    HandlerOutput {
        outcome: name.to_owned(),
        output,
    }
}

pub(super) fn request_id(call: &HandlerCall) -> Result<Uuid, HandlerError> {
    call.context["input"]["request_id"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| HandlerError::Fatal("the run input has no valid `request_id`".into()))
}

pub(super) async fn request(pool: &PgPool, id: Uuid) -> Result<RequestRow, HandlerError> {
    let mut conn = pool.acquire().await?;
    store::get(&mut conn, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("privacy request {id} does not exist")))
}

/// The business account a request concerns (a Meta user's callback request has none).
pub(super) fn workspace_of(row: &RequestRow) -> Result<&str, HandlerError> {
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

/// Records a decision of `step` (from the run's context) in the request's timeline once.
pub(super) async fn record_decision(
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
