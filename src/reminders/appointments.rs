//! Appointment commands: book (the workspace's policy snapshotted, merged with what the
//! booking says, every reminder planned, the appointment's run started), reschedule and
//! cancel (a new version, and an event that cuts the run's sleep short so it plans again:
//! the same run, never a second), read one with its reminders or a list. The API calls
//! these, never the store.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::customers::CustomerRow;
use super::policy::{Policy, PolicyInput};
use super::schedule::{self, Planned};
use super::store::appointments::{self as store, AppointmentRow, ReminderRow};
use super::store::customers as customer_store;
use super::{CHANGED_EVENT, ReminderError, WORKFLOW, at, visible_workspace};
use crate::engine::commands::events::Event;
use crate::engine::commands::runs::{Actor, IdempotencyKey, StartRun};
use crate::engine::{Engine, InputProblem, RunId};
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};
use crate::store::ids::WorkspaceId;

/// Whom an appointment is with: a registered customer, by id or WhatsApp number.
#[derive(Debug, Clone, Default)]
pub struct CustomerRef {
    /// The customer's id.
    pub id: Option<Uuid>,
    /// Or WhatsApp id.
    pub wa_id: Option<String>,
    /// Or phone number.
    pub phone: Option<String>,
}

/// An appointment to book.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    /// With whom.
    pub customer: CustomerRef,
    /// When it starts.
    pub start_at: DateTime<Utc>,
    /// How long, e.g. `45m`.
    pub duration: String,
    /// The business's own reference.
    pub external_ref: Option<String>,
    /// The reminders, over the workspace's default policy.
    pub reminders: Option<PolicyInput>,
}

/// An appointment with its reminders and the customer.
#[derive(Debug, Clone)]
pub struct AppointmentDetail {
    /// The appointment.
    pub appointment: AppointmentRow,
    /// Its reminders, the first to go out first.
    pub reminders: Vec<ReminderRow>,
    /// What the business should know about its reminders (booking only; see [`super::ttl`]).
    pub warnings: Vec<String>,
}

fn duration_seconds(text: &str, pointer: &str, problems: &mut Vec<InputProblem>) -> i32 {
    match crate::duration::parse_duration(text) {
        Ok(d) if d.as_secs() >= 60 && d.as_secs() <= 86400 => d.as_secs() as i32,
        Ok(_) => {
            problems.push(at(pointer, "between 1 minute and 24 hours"));
            0
        }
        Err(error) => {
            problems.push(at(pointer, error));
            0
        }
    }
}

/// Plans every reminder of `appointment` as of `now`: the instant each goes out, or
/// skipped as too late. A reminder already sent (or being sent, failed, paused) stays.
pub(super) async fn plan_all(
    conn: &mut sqlx::PgConnection,
    appointment: &AppointmentRow,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let policy = Policy::from_json(&appointment.policy).unwrap_or_default();
    for offset in &policy.offsets {
        let offset_seconds = i32::try_from(*offset).unwrap_or(i32::MAX);
        if appointment.status != "booked" {
            store::plan_reminder(
                conn,
                appointment,
                offset_seconds,
                None,
                "cancelled",
                Some("appointment_cancelled"),
            )
            .await?;
            continue;
        }
        match schedule::plan(
            appointment.start_at,
            chrono::Duration::seconds(*offset),
            zone,
            policy.quiet_hours,
            now,
        ) {
            Planned::At { at, .. } => {
                store::plan_reminder(conn, appointment, offset_seconds, Some(at), "planned", None)
                    .await?;
            }
            Planned::TooLate { would_have_been } => {
                let reason = format!(
                    "too_late: it would have gone out at {}",
                    would_have_been.to_rfc3339()
                );
                store::plan_reminder(
                    conn,
                    appointment,
                    offset_seconds,
                    Some(would_have_been),
                    "skipped",
                    Some(&reason),
                )
                .await?;
            }
        }
    }
    Ok(())
}

fn zone_of(customer: &CustomerRow) -> chrono_tz::Tz {
    customer.timezone.parse().unwrap_or(chrono_tz::UTC)
}

fn entry(caller: &str, action: &str, row: &AppointmentRow) -> AuditEntry {
    AuditEntry::now(
        caller,
        action,
        format!("appointment:{}", row.id),
        Some(&row.workspace_id),
        json!({ "appointment_id": row.id, "version": row.version, "start_at": row.start_at }),
    )
}

/// Books an appointment: 422 naming the field for a start in the past, an offset that
/// lands before now, a template not approved, a customer not found or not opted in;
/// nothing is stored then.
#[tracing::instrument(name = "book_appointment", skip_all)]
pub async fn book(
    engine: &Engine,
    caller: &Caller,
    workspace: &str,
    new: &NewAppointment,
) -> Result<AppointmentDetail, ReminderError> {
    let workspace = visible_workspace(engine.pool(), caller, workspace).await?;
    let now = Utc::now();
    let mut problems = Vec::new();
    if new.start_at <= now {
        problems.push(at("/start_at", "the appointment starts in the past"));
    }
    let duration = duration_seconds(&new.duration, "/duration", &mut problems);
    let mut conn = engine.pool().acquire().await?;
    let base = customer_store::policy(&mut conn, &workspace)
        .await?
        .and_then(|value| Policy::from_json(&value))
        .unwrap_or_default();
    let policy = match &new.reminders {
        Some(input) => Policy::merge(&base, input, "/reminders").unwrap_or_else(|more| {
            problems.extend(more);
            base.clone()
        }),
        None => base,
    };
    for (index, offset) in policy.offsets.iter().enumerate() {
        if new.start_at - chrono::Duration::seconds(*offset) <= now {
            problems.push(at(
                &format!("/reminders/offsets/{index}"),
                format!("{} s before the start is already past", offset),
            ));
        }
    }
    let mut warnings = Vec::new();
    for (pointer, template) in [
        ("/reminders/template", Some(&policy.template)),
        (
            "/reminders/cancellation_template",
            policy.cancellation_template.as_ref(),
        ),
    ] {
        let Some(template) = template else { continue };
        let found =
            customer_store::template_state(&mut conn, &workspace, template, &policy.language)
                .await?;
        // The reminder template's TTL against the offsets, from the same read.
        if let Some((_, ttl)) = &found
            && pointer == "/reminders/template"
        {
            warnings.extend(super::ttl::outlives(&policy, *ttl));
        }
        let status = found.map(|(status, _)| status);
        if status.as_deref() != Some("APPROVED") {
            problems.push(at(
                pointer,
                match status {
                    Some(status) => format!(
                        "template `{template}` ({}) is {status}, not APPROVED",
                        policy.language
                    ),
                    None => format!(
                        "the workspace has no template `{template}` in {}",
                        policy.language
                    ),
                },
            ));
        }
    }
    let customer = match super::customers::bookable(&mut conn, &workspace, &new.customer).await {
        Ok(customer) => Some(customer),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let Some(customer) = customer.filter(|_| problems.is_empty()) else {
        return Err(ReminderError::Invalid(problems));
    };
    drop(conn);
    let mut tx = engine.pool().begin().await?;
    let row = store::insert(
        &mut tx,
        Uuid::now_v7(),
        &workspace,
        customer.id,
        new.start_at,
        duration,
        new.external_ref.as_deref(),
        &policy.json(),
        &caller.person,
    )
    .await?;
    plan_all(&mut tx, &row, zone_of(&customer), now).await?;
    audit::append(
        &mut tx,
        &[entry(&caller.person, "appointment.booked", &row)],
    )
    .await?;
    tx.commit().await?;
    start_run(engine, &row).await?;
    let booked = get(engine.pool(), caller, &workspace, row.id).await?;
    Ok(AppointmentDetail { warnings, ..booked })
}

async fn start_run(engine: &Engine, row: &AppointmentRow) -> Result<(), ReminderError> {
    let workspace = WorkspaceId::parse(&row.workspace_id)
        .map_err(|_| ReminderError::WorkspaceNotFound(row.workspace_id.clone()))?;
    let (run, _) = engine
        .start_run(StartRun {
            workflow: WORKFLOW.to_owned(),
            input: json!({ "appointment_id": row.id }),
            workspace_id: Some(workspace),
            idempotency_key: Some(IdempotencyKey::service(format!("appointment:{}", row.id))),
            initiator: row.created_by.clone(),
        })
        .await?;
    let mut conn = engine.pool().acquire().await?;
    store::set_run(&mut conn, row.id, run.id.uuid()).await?;
    Ok(())
}

/// The appointment, locked, if the caller may see it and it is still booked.
async fn booked(
    tx: &mut sqlx::PgConnection,
    workspace: &str,
    id: Uuid,
) -> Result<AppointmentRow, ReminderError> {
    let row = store::lock(tx, id)
        .await?
        .filter(|row| row.workspace_id == workspace)
        .ok_or(ReminderError::NotFound("appointment", id))?;
    if row.status != "booked" {
        return Err(ReminderError::Conflict(
            "appointment-cancelled",
            format!("appointment {id} is cancelled"),
        ));
    }
    Ok(row)
}

/// Tells the appointment's run that it changed (in the caller's transaction).
async fn announce(
    engine: &Engine,
    tx: &mut sqlx::PgConnection,
    row: &AppointmentRow,
    actor: Actor<'_>,
) -> Result<(), ReminderError> {
    if let Some(run) = row.run_id {
        let correlation = row.id.to_string();
        let outcome = engine
            .post_event_within(
                tx,
                RunId::from(run),
                &Event {
                    name: CHANGED_EVENT,
                    correlation: &correlation,
                    payload: &json!({ "version": row.version + 1 }),
                },
                actor,
            )
            .await;
        // A run that finished (every reminder went out, the start has passed) has
        // nothing left to move.
        if let Err(error) = outcome
            && !matches!(error, crate::engine::EngineError::Conflict(_))
        {
            return Err(error.into());
        }
    }
    Ok(())
}

/// Moves an appointment: its reminders are planned again for the new start by the same
/// run (one already sent is not sent again).
pub async fn reschedule(
    engine: &Engine,
    caller: &Caller,
    workspace: &str,
    id: Uuid,
    start_at: DateTime<Utc>,
    duration: Option<&str>,
) -> Result<AppointmentDetail, ReminderError> {
    let workspace = visible_workspace(engine.pool(), caller, workspace).await?;
    let mut problems = Vec::new();
    if start_at <= Utc::now() {
        problems.push(at("/start_at", "the appointment would start in the past"));
    }
    let seconds = duration.map(|d| duration_seconds(d, "/duration", &mut problems));
    if !problems.is_empty() {
        return Err(ReminderError::Invalid(problems));
    }
    let mut tx = engine.pool().begin().await?;
    let row = booked(&mut tx, &workspace, id).await?;
    store::reschedule(
        &mut tx,
        id,
        start_at,
        seconds.unwrap_or(row.duration_seconds),
    )
    .await?;
    let moved = store::get(&mut tx, id)
        .await?
        .ok_or(ReminderError::NotFound("appointment", id))?;
    let customer = customer_store::get(&mut tx, moved.customer_id)
        .await?
        .ok_or(ReminderError::NotFound("customer", moved.customer_id))?;
    plan_all(&mut tx, &moved, zone_of(&customer), Utc::now()).await?;
    announce(engine, &mut tx, &row, Actor::Caller(caller)).await?;
    audit::append(
        &mut tx,
        &[entry(&caller.person, "appointment.rescheduled", &moved)],
    )
    .await?;
    tx.commit().await?;
    get(engine.pool(), caller, &workspace, id).await
}

/// Cancels an appointment: pending reminders stop; the run sends the cancellation
/// template when the policy names one.
pub async fn cancel(
    engine: &Engine,
    caller: &Caller,
    workspace: &str,
    id: Uuid,
) -> Result<AppointmentDetail, ReminderError> {
    let workspace = visible_workspace(engine.pool(), caller, workspace).await?;
    let mut tx = engine.pool().begin().await?;
    let row = booked(&mut tx, &workspace, id).await?;
    store::cancel(&mut tx, id).await?;
    let cancelled = store::get(&mut tx, id)
        .await?
        .ok_or(ReminderError::NotFound("appointment", id))?;
    plan_all(&mut tx, &cancelled, chrono_tz::UTC, Utc::now()).await?;
    announce(engine, &mut tx, &row, Actor::Caller(caller)).await?;
    audit::append(
        &mut tx,
        &[entry(&caller.person, "appointment.cancelled", &cancelled)],
    )
    .await?;
    tx.commit().await?;
    get(engine.pool(), caller, &workspace, id).await
}

/// Cancels the appointment the customer tapped `cancel` on (in the caller's
/// transaction); one already cancelled stays as it is.
pub async fn cancel_by_customer(
    engine: &Engine,
    tx: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<(), ReminderError> {
    let Some(row) = store::lock(tx, id)
        .await?
        .filter(|row| row.status == "booked")
    else {
        return Ok(());
    };
    store::cancel(tx, id).await?;
    let cancelled = store::get(tx, id)
        .await?
        .ok_or(ReminderError::NotFound("appointment", id))?;
    plan_all(tx, &cancelled, chrono_tz::UTC, Utc::now()).await?;
    announce(engine, tx, &row, Actor::Service(super::ACTOR)).await?;
    audit::append(
        tx,
        &[entry(super::ACTOR, "appointment.cancelled", &cancelled)],
    )
    .await?;
    Ok(())
}

/// One appointment of `workspace` with its reminders.
pub async fn get(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    id: Uuid,
) -> Result<AppointmentDetail, ReminderError> {
    let workspace = visible_workspace(pool, caller, workspace).await?;
    let mut conn = pool.acquire().await?;
    let appointment = store::get(&mut conn, id)
        .await?
        .filter(|row| row.workspace_id == workspace)
        .ok_or(ReminderError::NotFound("appointment", id))?;
    let reminders = store::reminders(&mut conn, id).await?;
    Ok(AppointmentDetail {
        appointment,
        reminders,
        warnings: Vec::new(),
    })
}

/// A workspace's appointments (by status, starting in `[from, to)`), by start.
pub async fn list(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    status: Option<&str>,
    range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    limit: i64,
) -> Result<Vec<AppointmentDetail>, ReminderError> {
    let workspace = visible_workspace(pool, caller, workspace).await?;
    let mut conn = pool.acquire().await?;
    let rows = store::list(&mut conn, &workspace, status, range, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for appointment in rows {
        let reminders = store::reminders(&mut conn, appointment.id).await?;
        out.push(AppointmentDetail {
            appointment,
            reminders,
            warnings: Vec::new(),
        });
    }
    Ok(out)
}
