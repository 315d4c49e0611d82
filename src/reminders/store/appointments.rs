//! `appointments` and `reminders`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::security::visibility::InWorkspace;

/// An appointment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    /// Id.
    pub id: Uuid,
    /// The workspace.
    pub workspace_id: String,
    /// The customer.
    pub customer_id: Uuid,
    /// When it starts.
    pub start_at: DateTime<Utc>,
    /// How long it lasts, in seconds.
    pub duration_seconds: i32,
    /// The business's own reference.
    pub external_ref: Option<String>,
    /// `booked` or `cancelled`.
    pub status: String,
    /// When the customer confirmed it.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The reminder policy snapshotted at booking.
    pub policy: Value,
    /// Bumped by each reschedule and cancel.
    pub version: i32,
    /// Its reminder run.
    pub run_id: Option<Uuid>,
    /// Who booked it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl InWorkspace for AppointmentRow {
    fn workspace(&self) -> Option<&str> {
        Some(&self.workspace_id)
    }
}

const COLUMNS: &str = "id, workspace_id, customer_id, start_at, duration_seconds, external_ref,
    status, confirmed_at, policy, version, run_id, created_by, created_at, cancelled_at";

/// Stores a booked appointment.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    workspace_id: &str,
    customer_id: Uuid,
    start_at: DateTime<Utc>,
    duration_seconds: i32,
    external_ref: Option<&str>,
    policy: &Value,
    created_by: &str,
) -> sqlx::Result<AppointmentRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into appointments (id, workspace_id, customer_id, start_at, duration_seconds,
             external_ref, status, policy, created_by)
         values ($1, $2, $3, $4, $5, $6, 'booked', $7, $8) returning {COLUMNS}"
    )))
    .bind(id)
    .bind(workspace_id)
    .bind(customer_id)
    .bind(start_at)
    .bind(duration_seconds)
    .bind(external_ref)
    .bind(policy)
    .bind(created_by)
    .fetch_one(conn)
    .await
}

/// One appointment.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AppointmentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from appointments where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// One appointment, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AppointmentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from appointments where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A workspace's appointments in `[from, to)` and `status`, by start.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: &str,
    status: Option<&str>,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    limit: i64,
) -> sqlx::Result<Vec<AppointmentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from appointments
         where workspace_id = $1 and ($2::text is null or status = $2)
           and ($3::timestamptz is null or start_at >= $3)
           and ($4::timestamptz is null or start_at < $4)
         order by start_at, id limit $5"
    )))
    .bind(workspace_id)
    .bind(status)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Moves an appointment (a new version).
pub async fn reschedule(
    conn: &mut PgConnection,
    id: Uuid,
    start_at: DateTime<Utc>,
    duration_seconds: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "update appointments set start_at = $2, duration_seconds = $3, version = version + 1,
             confirmed_at = null, updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(start_at)
    .bind(duration_seconds)
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels an appointment (a new version).
pub async fn cancel(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update appointments set status = 'cancelled', cancelled_at = now(), version = version + 1,
             updated_at = now()
         where id = $1 and status = 'booked'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the customer's confirmation.
pub async fn confirm(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update appointments set confirmed_at = coalesce(confirmed_at, now()), updated_at = now()
         where id = $1 and status = 'booked'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the appointment's run.
pub async fn set_run(conn: &mut PgConnection, id: Uuid, run_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("update appointments set run_id = $2 where id = $1 and run_id is null")
        .bind(id)
        .bind(run_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A reminder, with its message's delivery status.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderRow {
    /// Id (the message's callback data is `reminder:<id>`).
    pub id: Uuid,
    /// The appointment.
    pub appointment_id: Uuid,
    /// How long before the start, in seconds.
    pub offset_seconds: i32,
    /// When it goes (or went) out.
    pub planned_at: Option<DateTime<Utc>>,
    /// The appointment version it was planned for.
    pub planned_version: i32,
    /// `planned`, `sending`, `sent`, `skipped`, `cancelled`, `paused`, `failed`.
    pub state: String,
    /// Why it was skipped, paused or failed.
    pub reason: Option<String>,
    /// The WhatsApp message id.
    pub message_id: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the send began (a crash between sending and recording leaves it set).
    pub sending_at: Option<DateTime<Utc>>,
    /// The message's delivery status from Meta's webhooks.
    pub delivery: Option<String>,
    /// When it was decided at its time without being sent (none: still to be checked).
    pub checked_at: Option<DateTime<Utc>>,
    /// Its template's `message_send_ttl_seconds` (none: Meta's default).
    pub ttl_seconds: Option<i32>,
}

const REMINDER_COLUMNS: &str = "r.id, r.appointment_id, r.offset_seconds, r.planned_at,
    r.planned_version, r.state, r.reason, r.message_id, r.sent_at, r.sending_at, r.checked_at,
    (select s.status from message_statuses s where s.message_id = r.message_id) as delivery,
    (select t.message_send_ttl_seconds from appointments a join whatsapp_templates t
       on t.workspace_id = a.workspace_id and t.name = a.policy ->> 'template'
      and t.language = a.policy ->> 'language'
      where a.id = r.appointment_id) as ttl_seconds";

impl ReminderRow {
    /// Its delivery as of `now`: what Meta's webhooks said, or `dropped` once a sent
    /// message was neither delivered nor failed within its template's TTL (Meta stops
    /// trying then, and sends no status to say so).
    pub fn delivery_at(&self, now: DateTime<Utc>) -> Option<String> {
        let ttl = self
            .ttl_seconds
            .map_or(crate::reminders::ttl::DEFAULT_TTL, |s| {
                chrono::Duration::seconds(i64::from(s))
            });
        let undelivered = matches!(self.delivery.as_deref(), None | Some("sent"));
        match self.sent_at {
            Some(sent) if self.state == "sent" && undelivered && now > sent + ttl => {
                Some("dropped".to_owned())
            }
            _ => self.delivery.clone(),
        }
    }

    /// Whether planning again may change it (mirrors [`plan_reminder`]'s rule): planned,
    /// paused by a template refusal (checked again at its new time), cancelled, or skipped
    /// as too late (a reschedule can undo that).
    pub fn replannable(&self) -> bool {
        matches!(self.state.as_str(), "planned" | "paused" | "cancelled")
            || (self.state == "skipped"
                && self
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("too_late")))
    }
}

/// An appointment's reminders, latest first (the largest offset goes out first).
pub async fn reminders(
    conn: &mut PgConnection,
    appointment: Uuid,
) -> sqlx::Result<Vec<ReminderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {REMINDER_COLUMNS} from reminders r where r.appointment_id = $1
         order by r.offset_seconds desc"
    )))
    .bind(appointment)
    .fetch_all(conn)
    .await
}

/// One reminder, locked until the transaction ends.
pub async fn lock_reminder(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ReminderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {REMINDER_COLUMNS} from reminders r where r.id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Plans (or re-plans) the reminder of `offset`: one planned, paused, cancelled, or
/// skipped as too late (a reschedule can undo that) takes `state`, `planned_at`, `reason`;
/// one sent, being sent, failed or skipped for another reason (an opt-out) keeps its state.
#[allow(clippy::too_many_arguments)]
pub async fn plan_reminder(
    conn: &mut PgConnection,
    appointment: &AppointmentRow,
    offset_seconds: i32,
    planned_at: Option<DateTime<Utc>>,
    state: &str,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into reminders (id, appointment_id, workspace_id, offset_seconds, planned_at,
             planned_version, state, reason)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (appointment_id, offset_seconds) do update
         set planned_at = excluded.planned_at, planned_version = excluded.planned_version,
             state = excluded.state, reason = excluded.reason, checked_at = null
         where reminders.state in ('planned', 'paused', 'cancelled')
            or (reminders.state = 'skipped' and reminders.reason like 'too_late%')",
    )
    .bind(Uuid::now_v7())
    .bind(appointment.id)
    .bind(&appointment.workspace_id)
    .bind(offset_seconds)
    .bind(planned_at)
    .bind(appointment.version)
    .bind(state)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a reminder to `state` with `reason`, decided now.
pub async fn set_state(
    conn: &mut PgConnection,
    id: Uuid,
    state: &str,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("update reminders set state = $2, reason = $3, checked_at = now() where id = $1")
        .bind(id)
        .bind(state)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a reminder as being sent (before the call to Meta).
pub async fn set_sending(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("update reminders set state = 'sending', sending_at = now() where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the sent message.
pub async fn set_sent(conn: &mut PgConnection, id: Uuid, message_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update reminders set state = 'sent', message_id = $2, sent_at = coalesce(sent_at, now()),
             reason = null
         where id = $1",
    )
    .bind(id)
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The message Meta's status webhooks name for callback data `callback`, if one came in
/// (what a send cut short by a crash is reconciled with).
pub async fn message_for_callback(
    conn: &mut PgConnection,
    callback: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "select s ->> 'id' from webhook_events w,
             jsonb_array_elements(convert_from(w.body, 'UTF8')::jsonb -> 'entry') e,
             jsonb_array_elements(e -> 'changes') c,
             jsonb_array_elements(c -> 'value' -> 'statuses') s
         where strpos(convert_from(w.body, 'UTF8'), $1) > 0
           and s ->> 'biz_opaque_callback_data' = $1
         limit 1",
    )
    .bind(callback)
    .fetch_optional(conn)
    .await
}

/// Pauses the planned reminders of a workspace that use `template` (Meta paused or
/// disabled it), each to be checked again at its time; answers how many.
pub async fn pause_template(
    conn: &mut PgConnection,
    workspace_id: &str,
    template: &str,
    reason: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update reminders r set state = 'paused', reason = $3
         from appointments a
         where a.id = r.appointment_id and r.workspace_id = $1 and r.state = 'planned'
           and a.policy ->> 'template' = $2",
    )
    .bind(workspace_id)
    .bind(template)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The appointment a reminder message belongs to, by its message id.
pub async fn by_message(conn: &mut PgConnection, message_id: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select appointment_id from reminders where message_id = $1")
        .bind(message_id)
        .fetch_optional(conn)
        .await
}
