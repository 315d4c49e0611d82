//! The task handlers of `workflows/appointment_reminder.toml`. `reminders.plan` is the
//! run's one recurring step: it sends the reminder that is due (checked again first, see
//! [`super::sending`]), then plans every reminder as the appointment stands and answers
//! when the next one is due; the run sleeps until then, or until a reschedule or cancel.
//! `reminders.send_cancellation` sends the cancellation template once. A send is marked
//! `sending` in its own commit before the call to Meta, and Meta's answer is recorded in
//! the commit that plans what follows; a step repeated after a crash finds the reminder
//! `sending` and reconciles by the callback data the status webhooks echo, never sending
//! twice.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::appointments::plan_all;
use super::policy::Policy;
use super::sending;
use super::store::appointments::{self as store, AppointmentRow, ReminderRow};
use super::store::customers::{self as customer_store, CustomerRow};
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::whatsapp::deps::WhatsAppDeps;

/// How long a send cut short waits for Meta's status webhook before it is given up (as
/// failed, not sent again: a second message is worse than none).
const RECONCILE_FOR: Duration = Duration::minutes(2);

/// The offset the cancellation message is recorded under.
const CANCELLATION: i32 = 0;

/// A reminder this close to its time goes out now (a timer may fire a little early).
const DUE_WITHIN: Duration = Duration::seconds(5);

/// Registers the `reminders.*` handlers.
pub fn register(registry: &mut HandlerRegistry, deps: WhatsAppDeps) {
    register_handlers!(registry, deps, {
        "reminders.plan" => plan,
        "reminders.fire" => fire_pinned,
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

fn outcome(name: &str, output: serde_json::Value) -> HandlerOutput {
    HandlerOutput {
        outcome: name.to_owned(),
        output,
    }
}

/// An appointment as a step finds it: locked, its customer, and its reminders planned as
/// it stands.
struct Current {
    row: AppointmentRow,
    customer: CustomerRow,
    reminders: Vec<ReminderRow>,
}

impl Current {
    /// Locks the appointment and reads it; plans its reminders again only when the stored
    /// plan is not the appointment's current version (booking plans them already).
    async fn read(
        tx: &mut PgConnection,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Self, HandlerError> {
        let row = store::lock(tx, id)
            .await?
            .ok_or_else(|| HandlerError::Fatal(format!("appointment {id} does not exist")))?;
        let customer = customer_store::get(tx, row.customer_id)
            .await?
            .ok_or_else(|| {
                HandlerError::Fatal(format!("customer {} does not exist", row.customer_id))
            })?;
        let mut reminders = store::reminders(tx, id).await?;
        if stale(&row, &reminders) {
            let zone = customer.timezone.parse().unwrap_or(chrono_tz::UTC);
            plan_all(tx, &row, zone, now).await?;
            reminders = store::reminders(tx, id).await?;
        }
        Ok(Self {
            row,
            customer,
            reminders,
        })
    }

    fn policy(&self) -> Policy {
        Policy::from_json(&self.row.policy).unwrap_or_default()
    }

    /// The reminders still to go out for this version: planned, or paused ahead of their
    /// time by a template refusal (checked again at their time, once).
    fn pending(&self) -> impl Iterator<Item = &ReminderRow> {
        self.reminders.iter().filter(|r| {
            r.offset_seconds != CANCELLATION
                && r.planned_version == self.row.version
                && (r.state == "planned" || (r.state == "paused" && r.checked_at.is_none()))
        })
    }

    /// The reminders due at `now`, the one closest to the start first.
    fn due(&self, now: DateTime<Utc>) -> Vec<&ReminderRow> {
        let mut due: Vec<_> = self
            .pending()
            .filter(|r| r.planned_at.is_some_and(|at| at <= now + DUE_WITHIN))
            .collect();
        due.sort_by_key(|r| r.offset_seconds);
        due
    }

    /// What the run does next: sleep until the next reminder (or the start, so a
    /// reschedule still reaches it), send the cancellation, or end.
    fn next(&self, now: DateTime<Utc>) -> HandlerOutput {
        if self.row.status == "cancelled" {
            let told = self
                .reminders
                .iter()
                .any(|r| r.offset_seconds == CANCELLATION);
            return if self.policy().cancellation_template.is_some() && !told {
                outcome("cancelled", json!({}))
            } else {
                outcome("done", json!({ "reason": "cancelled" }))
            };
        }
        let next = self
            .pending()
            .filter_map(|r| r.planned_at.map(|at| (at, r.id)))
            .min();
        match next {
            Some((at, reminder)) => {
                outcome("wait", json!({ "next_at": at, "reminder_id": reminder }))
            }
            None if self.row.start_at > now => outcome(
                "wait",
                json!({ "next_at": self.row.start_at, "reminder_id": null }),
            ),
            None => outcome("done", json!({})),
        }
    }
}

/// Whether the stored plan misses an offset or was made for an earlier version.
fn stale(row: &AppointmentRow, reminders: &[ReminderRow]) -> bool {
    let policy = Policy::from_json(&row.policy).unwrap_or_default();
    let missing = policy.offsets.iter().any(|offset| {
        !reminders
            .iter()
            .any(|r| i64::from(r.offset_seconds) == *offset)
    });
    missing
        || reminders.iter().any(|r| {
            r.offset_seconds != CANCELLATION && r.replannable() && r.planned_version != row.version
        })
}

/// `reminders.plan`: reconciles a send a crash cut short, sends the reminder that is due
/// (older ones due at the same moment, after an outage, are superseded: one message, not a
/// burst), then answers what the run does next.
async fn plan(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let id = appointment_id(&call)?;
    let mut now = Utc::now();
    let mut tx = deps.pool.begin().await?;
    let mut current = Current::read(&mut tx, id, now).await?;
    let cut_short = current
        .reminders
        .iter()
        .find(|r| r.state == "sending" && r.offset_seconds != CANCELLATION)
        .cloned();
    if let Some(reminder) = cut_short {
        if let Some(waiting) = reconcile(&mut tx, &reminder).await? {
            tx.commit().await?;
            return Err(waiting);
        }
        current.reminders = store::reminders(&mut tx, id).await?;
    }
    let due: Vec<Uuid> = current.due(now).iter().map(|r| r.id).collect();
    let Some((&reminder, older)) = due.split_first() else {
        let next = current.next(now);
        tx.commit().await?;
        return Ok(next);
    };
    for superseded in older {
        store::set_state(
            &mut tx,
            *superseded,
            "skipped",
            Some("superseded: a reminder closer to the start was due at the same time"),
        )
        .await?;
    }
    let policy = current.policy();
    let checked = sending::check(
        &mut tx,
        deps,
        (&current.row, &current.customer),
        (&policy.template, &policy.language),
        now,
    )
    .await?;
    let ready = match checked {
        Err((state, reason)) => {
            store::set_state(&mut tx, reminder, state, Some(&reason)).await?;
            current.reminders = store::reminders(&mut tx, id).await?;
            let next = current.next(now);
            tx.commit().await?;
            return Ok(next);
        }
        Ok(ready) => ready,
    };
    store::set_sending(&mut tx, reminder).await?;
    tx.commit().await?;
    let answer = sending::send(
        deps,
        &call,
        (&current.row, &current.customer),
        &ready,
        reminder,
    )
    .await?;

    let mut tx = deps.pool.begin().await?;
    let retry = sending::record(
        &mut tx,
        deps,
        (&current.row, &current.customer),
        (&policy.template, &policy.language, reminder),
        answer,
    )
    .await?;
    now = Utc::now();
    let current = Current::read(&mut tx, id, now).await?;
    let next = current.next(now);
    tx.commit().await?;
    match retry {
        Some(error) => Err(error),
        None => Ok(next),
    }
}

/// `reminders.fire`, the separate fire step of runs pinned to version 1 of the workflow
/// (whose `plan` step only planned): the same work, answered as `ok`.
async fn fire_pinned(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    plan(deps, call)
        .await
        .map(|done| HandlerOutput::ok(done.output))
}

/// A send whose outcome a crash cut short: recorded as sent if a status webhook names its
/// callback data, given up as failed when none came within [`RECONCILE_FOR`]; otherwise
/// the error to wait with (the step is tried again).
async fn reconcile(
    tx: &mut PgConnection,
    reminder: &ReminderRow,
) -> Result<Option<HandlerError>, HandlerError> {
    let callback = format!("reminder:{}", reminder.id);
    if let Some(message) = store::message_for_callback(tx, &callback).await? {
        store::set_sent(tx, reminder.id, &message).await?;
        return Ok(None);
    }
    let since = reminder.sending_at.unwrap_or_else(Utc::now);
    if Utc::now() - since < RECONCILE_FOR {
        return Ok(Some(HandlerError::Retryable(
            "a send was cut short: waiting for Meta's status webhook before deciding".into(),
        )));
    }
    store::set_state(
        tx,
        reminder.id,
        "failed",
        Some("send_outcome_unknown: cut short and no status arrived; not sent again"),
    )
    .await?;
    Ok(None)
}

/// `reminders.send_cancellation`: the cancellation template, once (recorded as the
/// reminder of offset 0), checked like a reminder.
async fn send_cancellation(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let id = appointment_id(&call)?;
    let now = Utc::now();
    let mut tx = deps.pool.begin().await?;
    let current = Current::read(&mut tx, id, now).await?;
    let policy = current.policy();
    let Some(template) = policy.cancellation_template.clone() else {
        tx.commit().await?;
        return Ok(HandlerOutput::ok(json!({ "sent": false })));
    };
    let existing = current
        .reminders
        .iter()
        .find(|r| r.offset_seconds == CANCELLATION)
        .cloned();
    // The message goes to a cancelled appointment: checked as if it were still booked.
    let booked = AppointmentRow {
        status: "booked".into(),
        ..current.row.clone()
    };
    let reminder = match existing {
        Some(r) if r.state == "sending" => {
            let waiting = reconcile(&mut tx, &r).await?;
            tx.commit().await?;
            return match waiting {
                Some(error) => Err(error),
                None => Ok(HandlerOutput::ok(json!({ "reconciled": true }))),
            };
        }
        Some(r) if r.state != "planned" => {
            return Ok(HandlerOutput::ok(json!({ "sent": r.state == "sent" })));
        }
        Some(r) => r.id,
        None => {
            store::plan_reminder(&mut tx, &booked, CANCELLATION, Some(now), "planned", None)
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
    let checked = sending::check(
        &mut tx,
        deps,
        (&booked, &current.customer),
        (&template, &policy.language),
        now,
    )
    .await?;
    let ready = match checked {
        Err((state, reason)) => {
            store::set_state(&mut tx, reminder, state, Some(&reason)).await?;
            tx.commit().await?;
            return Ok(HandlerOutput::ok(
                json!({ "sent": false, "reason": reason }),
            ));
        }
        Ok(ready) => ready,
    };
    store::set_sending(&mut tx, reminder).await?;
    tx.commit().await?;
    let answer = sending::send(deps, &call, (&booked, &current.customer), &ready, reminder).await?;
    let sent = answer.is_ok();
    let mut tx = deps.pool.begin().await?;
    let retry = sending::record(
        &mut tx,
        deps,
        (&booked, &current.customer),
        (&template, &policy.language, reminder),
        answer,
    )
    .await?;
    tx.commit().await?;
    match retry {
        Some(error) => Err(error),
        None => Ok(HandlerOutput::ok(json!({ "sent": sent }))),
    }
}
