//! The task handlers of `workflows/appointment_reminder.toml`: `plan` (every reminder
//! planned as the appointment stands; the next one answered), `fire` (checked again,
//! then sent) and `send_cancellation`. A send is marked `sending` before the call to Meta;
//! a step repeated after a crash finds it so and reconciles by the callback data the
//! status webhooks echo, never sending twice.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::appointments::plan_all;
use super::policy::Policy;
use super::store::appointments::{self as store, AppointmentRow, ReminderRow};
use super::store::customers as customer_store;
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::meta::client::{CallContext, CallError};
use crate::meta::wire::TemplateMessage;
use crate::whatsapp::deps::WhatsAppDeps;

/// How long a send cut short waits for Meta's status webhook before it is given up (as
/// failed, not sent again: a second message is worse than none).
const RECONCILE_FOR: Duration = Duration::minutes(2);

/// The offset the cancellation message is recorded under.
const CANCELLATION: i32 = 0;

/// Registers the `reminders.*` handlers.
pub fn register(registry: &mut HandlerRegistry, deps: WhatsAppDeps) {
    register_handlers!(registry, deps, {
        "reminders.plan" => plan,
        "reminders.fire" => fire,
        "reminders.send_cancellation" => send_cancellation,
    });
}

type Outcome = Result<HandlerOutput, HandlerError>;

fn appointment_id(call: &HandlerCall) -> Result<Uuid, HandlerError> {
    call.context["input"]["appointment_id"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| HandlerError::Fatal("the run input has no valid `appointment_id`".into()))
}

fn outcome(name: &str, output: Value) -> HandlerOutput {
    HandlerOutput {
        outcome: name.to_owned(),
        output,
    }
}

async fn plan(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let id = appointment_id(&call)?;
    let now = Utc::now();
    let mut tx = deps.pool.begin().await?;
    let row = store::lock(&mut tx, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("appointment {id} does not exist")))?;
    let customer = customer_store::get(&mut tx, row.customer_id)
        .await?
        .ok_or_else(|| {
            HandlerError::Fatal(format!("customer {} does not exist", row.customer_id))
        })?;
    plan_all(
        &mut tx,
        &row,
        customer.timezone.parse().unwrap_or(chrono_tz::UTC),
        now,
    )
    .await?;
    let reminders = store::reminders(&mut tx, id).await?;
    tx.commit().await?;
    if row.status == "cancelled" {
        let policy = Policy::from_json(&row.policy).unwrap_or_default();
        let told = reminders.iter().any(|r| r.offset_seconds == CANCELLATION);
        return Ok(if policy.cancellation_template.is_some() && !told {
            outcome("cancelled", json!({}))
        } else {
            outcome("done", json!({ "reason": "cancelled" }))
        });
    }
    let next = reminders
        .iter()
        .filter(|r| r.state == "planned" && r.planned_version == row.version)
        .filter_map(|r| r.planned_at.map(|at| (at, r.id)))
        .min();
    Ok(match next {
        Some((at, reminder)) => outcome("wait", json!({ "next_at": at, "reminder_id": reminder })),
        // Nothing left to send: stay until the start, so a reschedule still reaches this run.
        None if row.start_at > now => outcome(
            "wait",
            json!({ "next_at": row.start_at, "reminder_id": null }),
        ),
        None => outcome("done", json!({})),
    })
}

/// Why a reminder must not go out now, if it must not.
async fn refusal(
    conn: &mut sqlx::PgConnection,
    row: &AppointmentRow,
    customer: &customer_store::CustomerRow,
    policy: &Policy,
) -> Result<Option<(&'static str, String)>, HandlerError> {
    if row.status != "booked" {
        return Ok(Some(("cancelled", "appointment_cancelled".into())));
    }
    if row.start_at <= Utc::now() {
        return Ok(Some((
            "skipped",
            "too_late: the appointment has started".into(),
        )));
    }
    if customer.consent.as_deref() != Some("opt_in") {
        return Ok(Some(("skipped", "opted_out".into())));
    }
    if customer.undeliverable_at.is_some() {
        return Ok(Some(("skipped", "undeliverable".into())));
    }
    let status: Option<String> = sqlx::query_scalar("select status from workspaces where id = $1")
        .bind(&row.workspace_id)
        .fetch_optional(&mut *conn)
        .await?;
    if status.as_deref() != Some("active") {
        return Ok(Some((
            "skipped",
            format!("workspace_{}", status.unwrap_or_else(|| "missing".into())),
        )));
    }
    let template = customer_store::template_approved(
        conn,
        &row.workspace_id,
        &policy.template,
        &policy.language,
    )
    .await?;
    if template.as_deref() != Some("APPROVED") {
        return Ok(Some((
            "paused",
            format!(
                "template_{}",
                template.unwrap_or_else(|| "missing".into()).to_lowercase()
            ),
        )));
    }
    Ok(None)
}

async fn fire(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let Some(reminder) = call.context["steps"]["plan"]["reminder_id"]
        .as_str()
        .and_then(|text| text.parse::<Uuid>().ok())
    else {
        return Ok(HandlerOutput::ok(json!({ "sent": false })));
    };
    let id = appointment_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    let row = store::lock(&mut tx, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("appointment {id} does not exist")))?;
    let Some(current) = store::lock_reminder(&mut tx, reminder).await? else {
        return Ok(HandlerOutput::ok(json!({ "sent": false })));
    };
    if current.state == "sending" {
        tx.commit().await?;
        return reconcile(deps, &current).await;
    }
    let due = current
        .planned_at
        .is_some_and(|at| at <= Utc::now() + Duration::seconds(5));
    if current.state != "planned" || current.planned_version != row.version || !due {
        // Moved or decided meanwhile: `plan` looks again.
        return Ok(HandlerOutput::ok(
            json!({ "sent": false, "state": current.state }),
        ));
    }
    let policy = Policy::from_json(&row.policy).unwrap_or_default();
    let customer = customer_store::get(&mut tx, row.customer_id)
        .await?
        .ok_or_else(|| {
            HandlerError::Fatal(format!("customer {} does not exist", row.customer_id))
        })?;
    if let Some((state, reason)) = refusal(&mut tx, &row, &customer, &policy).await? {
        store::set_state(&mut tx, reminder, state, Some(&reason)).await?;
        if state == "paused" {
            store::pause_template(&mut tx, &row.workspace_id, &policy.template, &reason).await?;
        }
        tx.commit().await?;
        return Ok(HandlerOutput::ok(
            json!({ "sent": false, "state": state, "reason": reason }),
        ));
    }
    store::set_sending(&mut tx, reminder).await?;
    tx.commit().await?;
    send(
        deps,
        &call,
        &row,
        &customer,
        &policy.template,
        &policy,
        reminder,
    )
    .await
}

/// A send whose outcome a crash cut short: sent if a status webhook names its callback
/// data; otherwise wait for one a while, then give it up as failed.
async fn reconcile(deps: &WhatsAppDeps, reminder: &ReminderRow) -> Outcome {
    let mut conn = deps.pool.acquire().await?;
    let callback = format!("reminder:{}", reminder.id);
    if let Some(message) = store::message_for_callback(&mut conn, &callback).await? {
        store::set_sent(&mut conn, reminder.id, &message).await?;
        return Ok(HandlerOutput::ok(
            json!({ "sent": true, "reconciled": true, "message_id": message }),
        ));
    }
    let since = reminder.sending_at.unwrap_or_else(Utc::now);
    if Utc::now() - since < RECONCILE_FOR {
        return Err(HandlerError::Retryable(
            "a send was cut short: waiting for Meta's status webhook before deciding".into(),
        ));
    }
    store::set_state(
        &mut conn,
        reminder.id,
        "failed",
        Some("send_outcome_unknown: cut short and no status arrived; not sent again"),
    )
    .await?;
    Ok(HandlerOutput::ok(
        json!({ "sent": false, "reconciled": false }),
    ))
}

/// The template's body parameters: as many as its `{{n}}` placeholders, from the
/// customer's name and the start on their clock.
async fn parameters(
    conn: &mut sqlx::PgConnection,
    row: &AppointmentRow,
    customer: &customer_store::CustomerRow,
    template: &str,
    language: &str,
) -> Result<Vec<String>, HandlerError> {
    let components: Option<Value> = sqlx::query_scalar(
        "select components from whatsapp_templates where workspace_id = $1 and name = $2 and language = $3",
    )
    .bind(&row.workspace_id)
    .bind(template)
    .bind(language)
    .fetch_optional(conn)
    .await?;
    let body = components
        .as_ref()
        .and_then(|c| c.as_array())
        .and_then(|c| c.iter().find(|part| part["type"] == "BODY"))
        .and_then(|part| part["text"].as_str())
        .unwrap_or_default()
        .to_owned();
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
    Ok(values.into_iter().cycle().take(count).collect())
}

/// Sends `template` for `reminder` (already marked `sending`) and records what Meta said.
async fn send(
    deps: &WhatsAppDeps,
    call: &HandlerCall,
    row: &AppointmentRow,
    customer: &customer_store::CustomerRow,
    template: &str,
    policy: &Policy,
    reminder: Uuid,
) -> Outcome {
    let workspace = row.workspace_id.as_str();
    let failed = |reason: String| async move {
        let mut conn = deps.pool.acquire().await?;
        store::set_state(&mut conn, reminder, "failed", Some(&reason)).await?;
        Ok::<_, HandlerError>(HandlerOutput::ok(
            json!({ "sent": false, "reason": reason }),
        ))
    };
    let Some(phone) = deps.phone_number_id(workspace).await? else {
        return failed("workspace_has_no_number".into()).await;
    };
    let token = match deps.token(workspace).await {
        Ok(token) => token,
        Err(error) => return failed(format!("no_token: {error}")).await,
    };
    let mut conn = deps.pool.acquire().await?;
    let parameters = parameters(&mut conn, row, customer, template, &policy.language).await?;
    drop(conn);
    let callback = format!("reminder:{reminder}");
    let message = TemplateMessage {
        to: &customer.wa_id,
        template,
        language: &policy.language,
        parameters: &parameters,
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
        .send_template(&context, &token, &phone, &message)
        .await
    {
        Ok(sent) => {
            let mut conn = deps.pool.acquire().await?;
            store::set_sent(&mut conn, reminder, &sent.id).await?;
            Ok(HandlerOutput::ok(
                json!({ "sent": true, "message_id": sent.id }),
            ))
        }
        Err(CallError::Graph(error)) => {
            let code = error.code;
            let mut tx = deps.pool.begin().await?;
            let result = match code {
                131026 => {
                    customer_store::set_undeliverable(&mut tx, customer.id).await?;
                    store::set_state(&mut tx, reminder, "failed", Some("undeliverable (131026)"))
                        .await?;
                    Ok(HandlerOutput::ok(json!({ "sent": false, "code": code })))
                }
                132001 | 132015 | 132016 => {
                    let reason = format!(
                        "template_paused ({code}): Meta paused, disabled or lost `{template}`"
                    );
                    store::set_state(&mut tx, reminder, "paused", Some(&reason)).await?;
                    store::pause_template(&mut tx, workspace, template, &reason).await?;
                    tracing::warn!(
                        workspace.id = workspace,
                        code,
                        "reminders paused: their template was refused"
                    );
                    Ok(HandlerOutput::ok(json!({ "sent": false, "code": code })))
                }
                _ => {
                    // Not sent: back to planned; retried (rate limits, Meta down) or failed.
                    store::set_state(&mut tx, reminder, "planned", None).await?;
                    Err(deps.graph_failure(workspace, CallError::Graph(error)).await)
                }
            };
            let result = match result {
                Err(HandlerError::Fatal(reason)) => {
                    store::set_state(&mut tx, reminder, "failed", Some(&reason)).await?;
                    Ok(HandlerOutput::ok(
                        json!({ "sent": false, "reason": reason }),
                    ))
                }
                other => other,
            };
            tx.commit().await?;
            result
        }
        // No answer: it may have gone out. Stay `sending`; the retry reconciles.
        Err(other) => Err(HandlerError::Retryable(other.to_string())),
    }
}

async fn send_cancellation(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let id = appointment_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    let row = store::lock(&mut tx, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal(format!("appointment {id} does not exist")))?;
    let policy = Policy::from_json(&row.policy).unwrap_or_default();
    let Some(template) = policy.cancellation_template.clone() else {
        return Ok(HandlerOutput::ok(json!({ "sent": false })));
    };
    let existing = store::reminders(&mut tx, id)
        .await?
        .into_iter()
        .find(|r| r.offset_seconds == CANCELLATION);
    let reminder = match existing {
        Some(r) if r.state == "sending" => {
            tx.commit().await?;
            return reconcile(deps, &r).await;
        }
        Some(r) if r.state == "sent" || r.state == "failed" => {
            return Ok(HandlerOutput::ok(json!({ "sent": r.state == "sent" })));
        }
        Some(r) => r.id,
        None => {
            let booked = AppointmentRow {
                status: "booked".into(),
                ..row.clone()
            };
            store::plan_reminder(
                &mut tx,
                &booked,
                CANCELLATION,
                Some(Utc::now()),
                "planned",
                None,
            )
            .await?;
            store::reminders(&mut tx, id)
                .await?
                .into_iter()
                .find(|r| r.offset_seconds == CANCELLATION)
                .map(|r| r.id)
                .ok_or_else(|| {
                    HandlerError::Fatal("the cancellation message was not recorded".into())
                })?
        }
    };
    let customer = customer_store::get(&mut tx, row.customer_id)
        .await?
        .ok_or_else(|| {
            HandlerError::Fatal(format!("customer {} does not exist", row.customer_id))
        })?;
    if customer.consent.as_deref() != Some("opt_in") || customer.undeliverable_at.is_some() {
        store::set_state(&mut tx, reminder, "skipped", Some("opted_out")).await?;
        tx.commit().await?;
        return Ok(HandlerOutput::ok(json!({ "sent": false })));
    }
    store::set_sending(&mut tx, reminder).await?;
    tx.commit().await?;
    send(deps, &call, &row, &customer, &template, &policy, reminder).await
}
