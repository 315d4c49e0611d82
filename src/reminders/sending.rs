//! One reminder's send: checked again at fire time (still booked, not started, opted in,
//! deliverable, workspace active, template approved: one read of the workspace and
//! template), the template's parameters from the customer and the start on their clock, the
//! call to Meta with the reminder's id as callback data, and what Meta's answer does to the
//! reminder, the customer, the template and the workspace.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::store::appointments::{self as store, AppointmentRow};
use super::store::customers::{self as customer_store, CustomerRow};
use super::store::sending::{self as sending_store, SendContext};
use crate::engine::handlers::{HandlerCall, HandlerError};
use crate::meta::client::{CallContext, CallError};
use crate::meta::error::GraphError;
use crate::meta::wire::TemplateMessage;
use crate::security::audit::{self, AuditEntry};
use crate::whatsapp::deps::WhatsAppDeps;

/// Everything a send needs, once the checks passed.
pub(super) struct Ready {
    template: String,
    language: String,
    phone_number_id: String,
    token: String,
    parameters: Vec<String>,
}

/// Why a reminder does not go out: the state it takes and the reason.
pub(super) type Refusal = (&'static str, String);

/// Checks `row`'s reminder again at `now` against the customer, workspace and `template`:
/// what sending it needs, or why it must not go out.
pub(super) async fn check(
    conn: &mut PgConnection,
    deps: &WhatsAppDeps,
    (row, customer): (&AppointmentRow, &CustomerRow),
    (template, language): (&str, &str),
    now: DateTime<Utc>,
) -> Result<Result<Ready, Refusal>, HandlerError> {
    if row.status != "booked" {
        return Ok(Err(("cancelled", "appointment_cancelled".into())));
    }
    if row.start_at <= now {
        return Ok(Err((
            "skipped",
            "too_late: the appointment has started".into(),
        )));
    }
    if customer.consent.as_deref() != Some("opt_in") {
        return Ok(Err(("skipped", "opted_out".into())));
    }
    if customer.undeliverable_at.is_some() {
        return Ok(Err(("skipped", "undeliverable".into())));
    }
    let found = sending_store::context(conn, &row.workspace_id, template, language).await?;
    Ok(ready(deps, row, customer, (template, language), found))
}

fn ready(
    deps: &WhatsAppDeps,
    row: &AppointmentRow,
    customer: &CustomerRow,
    (template, language): (&str, &str),
    found: SendContext,
) -> Result<Ready, Refusal> {
    let workspace = found.workspace_status.as_deref().unwrap_or("missing");
    if workspace != "active" {
        return Err(("skipped", format!("workspace_{workspace}")));
    }
    let status = found.template_status.as_deref().unwrap_or("missing");
    if status != "APPROVED" {
        return Err(("paused", format!("template_{}", status.to_lowercase())));
    }
    let phone_number_id = found
        .phone_number_id
        .ok_or(("failed", "workspace_has_no_number".to_owned()))?;
    let token = found
        .access_token_sealed
        .as_deref()
        .ok_or_else(|| "the workspace has no access token".to_owned())
        .and_then(|sealed| deps.secrets.open(sealed).map_err(|e| e.to_string()))
        .map_err(|error| ("failed", format!("no_token: {error}")))?;
    Ok(Ready {
        template: template.to_owned(),
        language: language.to_owned(),
        phone_number_id,
        token,
        parameters: parameters(found.components.as_ref(), row, customer),
    })
}

/// The template's body parameters: as many as its `{{n}}` placeholders, from the
/// customer's name and the start on their clock.
fn parameters(
    components: Option<&Value>,
    row: &AppointmentRow,
    customer: &CustomerRow,
) -> Vec<String> {
    let body = components
        .and_then(|c| c.as_array())
        .and_then(|c| c.iter().find(|part| part["type"] == "BODY"))
        .and_then(|part| part["text"].as_str())
        .unwrap_or_default();
    let count = (1..=10)
        .take_while(|n| body.contains(&format!("{{{{{n}}}}}")))
        .count();
    let zone: chrono_tz::Tz = customer.timezone.parse().unwrap_or(chrono_tz::UTC);
    let local = row
        .start_at
        .with_timezone(&zone)
        .format("%a %-d %b, %H:%M")
        .to_string();
    let values = [
        customer.name.clone().unwrap_or_else(|| "there".into()),
        local,
    ];
    values.into_iter().cycle().take(count).collect()
}

/// Sends the reminder (already marked `sending`, committed): Meta's message id, or the
/// Graph error Meta answered. No answer at all is an `Err`: the message may have gone out,
/// so the reminder stays `sending` and the step's retry reconciles.
pub(super) async fn send(
    deps: &WhatsAppDeps,
    call: &HandlerCall,
    (row, customer): (&AppointmentRow, &CustomerRow),
    ready: &Ready,
    reminder: Uuid,
) -> Result<Result<String, Box<GraphError>>, HandlerError> {
    let callback = format!("reminder:{reminder}");
    let message = TemplateMessage {
        to: &customer.wa_id,
        template: &ready.template,
        language: &ready.language,
        parameters: &ready.parameters,
        callback_data: Some(&callback),
        copy_code: None,
    };
    let context = CallContext {
        workspace_id: Some(row.workspace_id.clone()),
        run_id: Some(call.run_id.uuid()),
        step_id: Some(call.step_id.clone()),
    };
    match deps
        .graph
        .send_template(&context, &ready.token, &ready.phone_number_id, &message)
        .await
    {
        Ok(sent) => Ok(Ok(sent.id)),
        Err(CallError::Graph(error)) => Ok(Err(error)),
        Err(other) => Err(HandlerError::Retryable(other.to_string())),
    }
}

/// Records Meta's answer to a send in `tx`. Answers the error the step must end with after
/// `tx` commits (a rate limit or an outage: the reminder is back to planned and retried).
pub(super) async fn record(
    tx: &mut PgConnection,
    deps: &WhatsAppDeps,
    (row, customer): (&AppointmentRow, &CustomerRow),
    (template, language, reminder): (&str, &str, Uuid),
    answer: Result<String, Box<GraphError>>,
) -> Result<Option<HandlerError>, HandlerError> {
    let error = match answer {
        Ok(message_id) => {
            store::set_sent(tx, reminder, &message_id).await?;
            return Ok(None);
        }
        Err(error) => error,
    };
    let code = error.code;
    match code {
        131026 => {
            customer_store::set_undeliverable(tx, customer.id).await?;
            store::set_state(tx, reminder, "failed", Some("undeliverable (131026)")).await?;
        }
        132001 | 132015 | 132016 => {
            let reason =
                format!("template_paused ({code}): Meta paused, disabled or lost `{template}`");
            store::set_state(tx, reminder, "paused", Some(&reason)).await?;
            pause_template(tx, &row.workspace_id, (template, language), code, &reason).await?;
        }
        _ => match deps
            .graph_failure(&row.workspace_id, CallError::Graph(error))
            .await
        {
            HandlerError::Fatal(reason) => {
                store::set_state(tx, reminder, "failed", Some(&reason)).await?;
            }
            retry => {
                // Not sent: back to planned, and the step is tried again.
                store::set_state(tx, reminder, "planned", None).await?;
                return Ok(Some(retry));
            }
        },
    }
    Ok(None)
}

/// Meta refused `template` (paused, disabled, or missing in that language): the
/// workspace's planned reminders using it are paused (each goes out at its time if the
/// template is approved again by then), the template's copy shows a pause or disabling,
/// and the ledger records the change once.
async fn pause_template(
    tx: &mut PgConnection,
    workspace_id: &str,
    (template, language): (&str, &str),
    code: i64,
    reason: &str,
) -> Result<(), HandlerError> {
    let paused = store::pause_template(tx, workspace_id, template, reason).await?;
    let status = match code {
        132015 => Some("PAUSED"),
        132016 => Some("DISABLED"),
        _ => None,
    };
    let marked = match status {
        Some(status) => {
            sending_store::mark_template(tx, workspace_id, (template, language), status, reason)
                .await?
        }
        None => false,
    };
    if marked {
        audit::append(
            tx,
            &[AuditEntry::now(
                super::ACTOR,
                "reminders.template_refused",
                format!("template:{workspace_id}:{template}"),
                Some(workspace_id),
                json!({ "code": code, "reminders_paused": paused }),
            )],
        )
        .await?;
    }
    tracing::warn!(
        workspace.id = workspace_id,
        code,
        paused,
        "reminders paused: Meta refused their template"
    );
    Ok(())
}
