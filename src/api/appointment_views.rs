//! The bodies and views of `/v1/workspaces/{id}/customers`, `…/appointments` and
//! `…/reminder-policy`.

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::reminders::appointments::AppointmentDetail;
use crate::reminders::customers::CustomerDetail;
use crate::reminders::policy::{CheckedPolicy, PolicyInput};

/// Consent given with a registration, or recorded later.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ConsentBody {
    /// When the customer gave (or withdrew) it (default: now).
    pub at: Option<DateTime<Utc>>,
    /// How: `web_form`, `in_person`, `whatsapp`, `paper`, ...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub method: String,
    /// The wording the customer agreed to (required for an opt-in).
    #[oai(validator(max_length = 2000))]
    pub wording: Option<String>,
}

/// A customer to register.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CustomerBody {
    /// WhatsApp id (digits).
    #[oai(validator(max_length = 32))]
    pub wa_id: Option<String>,
    /// Or phone number.
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
    /// Name (used in the reminder's text).
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
    /// IANA time zone reminders are planned in, e.g. `Europe/Berlin`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub timezone: String,
    /// Template language (default `en_US`).
    #[oai(validator(max_length = 15))]
    pub language: Option<String>,
    /// Their WhatsApp opt-in, when registered with it.
    pub opt_in: Option<ConsentBody>,
}

/// Opt in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConsentKind {
    /// The customer agreed to WhatsApp reminders.
    OptIn,
    /// The customer withdrew it: nothing more is sent.
    OptOut,
}

/// A consent to record.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ConsentRequest {
    /// In or out.
    pub kind: ConsentKind,
    /// When, how, the wording.
    #[oai(flatten)]
    pub consent: ConsentBody,
}

/// One recorded consent.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ConsentView {
    /// `opt_in` or `opt_out`.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// How (`keyword`: a STOP reply).
    pub method: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// The wording agreed to.
    pub wording: Option<String>,
}

/// A customer.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CustomerProfileView {
    /// Id.
    pub id: Uuid,
    /// WhatsApp id.
    pub wa_id: String,
    /// Name.
    pub name: Option<String>,
    /// IANA time zone.
    pub timezone: String,
    /// Template language.
    pub language: String,
    /// `opt_in`, `opt_out`, or absent (none recorded: nothing is sent).
    pub consent: Option<String>,
    /// When Meta said the number cannot receive messages.
    pub undeliverable_at: Option<DateTime<Utc>>,
    /// Every opt-in and opt-out, oldest first (in a single customer's view).
    pub consents: Option<Vec<ConsentView>>,
}

impl From<CustomerDetail> for CustomerProfileView {
    fn from(detail: CustomerDetail) -> Self {
        let mut view = CustomerProfileView::from(detail.customer);
        view.consents = Some(
            detail
                .consents
                .into_iter()
                .map(|c| ConsentView {
                    kind: c.kind,
                    at: c.at,
                    method: c.method,
                    recorded_by: c.recorded_by,
                    wording: c.wording,
                })
                .collect(),
        );
        view
    }
}

impl From<crate::reminders::customers::CustomerRow> for CustomerProfileView {
    fn from(row: crate::reminders::customers::CustomerRow) -> Self {
        Self {
            id: row.id,
            wa_id: row.wa_id,
            name: row.name,
            timezone: row.timezone,
            language: row.language,
            consent: row.consent,
            undeliverable_at: row.undeliverable_at,
            consents: None,
        }
    }
}

/// Quiet hours on the customer's clock.
#[derive(Debug, Clone, Object)]
pub struct QuietHoursBody {
    /// Start, `HH:MM` (sending at it is allowed).
    #[oai(validator(max_length = 5))]
    pub from: String,
    /// End, `HH:MM` (sending at it is allowed); before `from` wraps midnight.
    #[oai(validator(max_length = 5))]
    pub to: String,
}

/// A reminder policy, or the part of one a booking overrides.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ReminderPolicyBody {
    /// How long before the start each reminder goes out: `24h`, `2h`, `30m`.
    #[oai(validator(max_items = 5))]
    pub offsets: Option<Vec<String>>,
    /// The template (a UTILITY template, APPROVED).
    #[oai(validator(max_length = 512))]
    pub template: Option<String>,
    /// Its language.
    #[oai(validator(max_length = 15))]
    pub language: Option<String>,
    /// Quiet hours; `null` for none.
    pub quiet_hours: Option<QuietHoursBody>,
    /// Whether to drop the quiet hours altogether.
    pub no_quiet_hours: Option<bool>,
    /// A template sent when the appointment is cancelled.
    #[oai(validator(max_length = 512))]
    pub cancellation_template: Option<String>,
}

impl From<ReminderPolicyBody> for PolicyInput {
    fn from(body: ReminderPolicyBody) -> Self {
        let quiet_hours = match (body.no_quiet_hours, body.quiet_hours) {
            (Some(true), _) => Some(None),
            (_, Some(q)) => Some(Some((q.from, q.to))),
            _ => None,
        };
        PolicyInput {
            offsets: body.offsets,
            template: body.template,
            language: body.language,
            quiet_hours,
            cancellation_template: body.cancellation_template,
        }
    }
}

/// A reminder policy.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReminderPolicyView {
    /// Offsets before the start, in seconds, largest first.
    pub offsets_seconds: Vec<i64>,
    /// The template.
    pub template: String,
    /// Its language.
    pub language: String,
    /// Quiet hours, if any.
    pub quiet_hours: Option<QuietHoursBody>,
    /// The cancellation template, if any.
    pub cancellation_template: Option<String>,
    /// What the business should know about it, in words: e.g. a template whose
    /// `message_send_ttl_seconds` outlives the shortest offset.
    pub warnings: Option<Vec<String>>,
}

impl From<CheckedPolicy> for ReminderPolicyView {
    fn from(CheckedPolicy { policy, warnings }: CheckedPolicy) -> Self {
        Self {
            warnings: (!warnings.is_empty()).then_some(warnings),
            offsets_seconds: policy.offsets,
            template: policy.template,
            language: policy.language,
            quiet_hours: policy.quiet_hours.map(|q| QuietHoursBody {
                from: q.from.format("%H:%M").to_string(),
                to: q.to.format("%H:%M").to_string(),
            }),
            cancellation_template: policy.cancellation_template,
        }
    }
}

/// Whom an appointment is with.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CustomerRefBody {
    /// A registered customer's id.
    pub id: Option<Uuid>,
    /// Or their WhatsApp id.
    #[oai(validator(max_length = 32))]
    pub wa_id: Option<String>,
    /// Or phone number.
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
}

/// An appointment to book.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AppointmentBody {
    /// With whom (registered, opted in).
    pub customer: CustomerRefBody,
    /// When it starts.
    pub start_at: DateTime<Utc>,
    /// How long: `45m`, `1h`.
    #[oai(validator(max_length = 20))]
    pub duration: String,
    /// The business's own reference.
    #[oai(validator(max_length = 200))]
    pub external_ref: Option<String>,
    /// Reminders, over the workspace's policy.
    pub reminders: Option<ReminderPolicyBody>,
}

/// A reschedule.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct RescheduleBody {
    /// The new start.
    pub start_at: DateTime<Utc>,
    /// A new length.
    #[oai(validator(max_length = 20))]
    pub duration: Option<String>,
}

/// One reminder of an appointment.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReminderView {
    /// Id (its message's callback data is `reminder:<id>`).
    pub id: Uuid,
    /// Seconds before the start (0: the cancellation message).
    pub offset_seconds: i32,
    /// When it goes (or went, or would have gone) out.
    pub planned_at: Option<DateTime<Utc>>,
    /// `planned`, `sending`, `sent`, `skipped`, `cancelled`, `paused`, `failed`.
    pub state: String,
    /// Why it was skipped, paused or failed (`too_late: …`, `opted_out`, `template_paused`…).
    pub reason: Option<String>,
    /// The WhatsApp message id.
    pub message_id: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Its delivery as Meta's webhooks report it: `sent`, `delivered`, `read`, `failed`;
    /// or `dropped`: sent, but neither delivered nor failed within its template's
    /// `message_send_ttl_seconds` (Meta stopped trying; 30 days when the template sets none).
    pub delivery: Option<String>,
}

/// An appointment with its reminders.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AppointmentView {
    /// Id.
    pub id: Uuid,
    /// The customer.
    pub customer_id: Uuid,
    /// When it starts.
    pub start_at: DateTime<Utc>,
    /// How long, in seconds.
    pub duration_seconds: i32,
    /// The business's own reference.
    pub external_ref: Option<String>,
    /// `booked` or `cancelled`.
    pub status: String,
    /// When the customer confirmed it.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Bumped by each reschedule and cancel.
    pub version: i32,
    /// The reminder policy it was booked under.
    pub policy: serde_json::Value,
    /// Its reminders, the first to go out first.
    pub reminders: Vec<ReminderView>,
    /// Its run.
    pub run_id: Option<Uuid>,
    /// What the business should know about its reminders, in words (booking answers
    /// only): e.g. a template whose `message_send_ttl_seconds` outlives the shortest
    /// offset, so a phone offline at send time may get the reminder after the appointment.
    pub warnings: Option<Vec<String>>,
}

impl From<AppointmentDetail> for AppointmentView {
    fn from(detail: AppointmentDetail) -> Self {
        let row = detail.appointment;
        Self {
            id: row.id,
            customer_id: row.customer_id,
            start_at: row.start_at,
            duration_seconds: row.duration_seconds,
            external_ref: row.external_ref,
            status: row.status,
            confirmed_at: row.confirmed_at,
            version: row.version,
            policy: row.policy,
            run_id: row.run_id,
            warnings: (!detail.warnings.is_empty()).then_some(detail.warnings),
            reminders: detail
                .reminders
                .into_iter()
                .map(|r| ReminderView {
                    delivery: r.delivery_at(chrono::Utc::now()),
                    id: r.id,
                    offset_seconds: r.offset_seconds,
                    planned_at: r.planned_at,
                    state: r.state,
                    reason: r.reason,
                    message_id: r.message_id,
                    sent_at: r.sent_at,
                })
                .collect(),
        }
    }
}

fn instant(text: &str) -> DateTime<Utc> {
    text.parse().expect("an example instant")
}

impl Example for CustomerBody {
    fn example() -> Self {
        Self {
            wa_id: Some("4915123456789".into()),
            phone: None,
            name: Some("Ilse".into()),
            timezone: "Europe/Berlin".into(),
            language: Some("en_US".into()),
            opt_in: Some(ConsentBody {
                at: None,
                method: "web_form".into(),
                wording: Some("Yes, send me appointment reminders on WhatsApp".into()),
            }),
        }
    }
}

impl Example for ConsentRequest {
    fn example() -> Self {
        Self {
            kind: ConsentKind::OptOut,
            consent: ConsentBody {
                at: None,
                method: "in_person".into(),
                wording: None,
            },
        }
    }
}

impl Example for ReminderPolicyBody {
    fn example() -> Self {
        Self {
            offsets: Some(vec!["24h".into(), "2h".into()]),
            template: Some("appointment_reminder".into()),
            language: Some("en_US".into()),
            quiet_hours: Some(QuietHoursBody {
                from: "21:00".into(),
                to: "08:00".into(),
            }),
            no_quiet_hours: None,
            cancellation_template: None,
        }
    }
}

impl Example for AppointmentBody {
    fn example() -> Self {
        Self {
            customer: CustomerRefBody {
                id: None,
                wa_id: Some("4915123456789".into()),
                phone: None,
            },
            start_at: instant("2027-03-09T09:00:00Z"),
            duration: "45m".into(),
            external_ref: Some("booking-1042".into()),
            reminders: None,
        }
    }
}

impl Example for RescheduleBody {
    fn example() -> Self {
        Self {
            start_at: instant("2027-03-10T14:00:00Z"),
            duration: Some("1h".into()),
        }
    }
}
