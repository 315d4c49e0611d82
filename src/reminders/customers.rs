//! Customer commands: register a workspace's customer (WhatsApp id or phone, name, IANA
//! time zone, language), record their WhatsApp opt-in as evidence (when, how, by whom,
//! the wording) or their opt-out, read them. The latest consent decides: no reminder is
//! ever sent without a recorded opt-in, and none after an opt-out (through the API, or a
//! STOP reply, [`opt_out_by_keyword`]).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

pub use super::store::customers::CustomerRow;
use super::store::customers::{self as store, ConsentRow, NewCustomerRow};
use super::{ACTOR, ReminderError, at};
use crate::engine::InputProblem;
use crate::lifecycle::holds::normalise_customer;
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};

/// Words that, as the whole text of a customer's message, withdraw their opt-in.
pub const STOP_KEYWORDS: [&str; 6] = [
    "stop",
    "stopp",
    "unsubscribe",
    "cancel reminders",
    "arrêt",
    "baja",
];

/// How consent was given or withdrawn.
#[derive(Debug, Clone)]
pub struct ConsentInput {
    /// When (default: now).
    pub at: Option<DateTime<Utc>>,
    /// How: `web_form`, `in_person`, `whatsapp`, `paper`, ...
    pub method: String,
    /// The wording the customer agreed to (required for an opt-in).
    pub wording: Option<String>,
}

/// A customer to register.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    /// WhatsApp id.
    pub wa_id: Option<String>,
    /// Or phone number.
    pub phone: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Template language (default `en_US`).
    pub language: Option<String>,
    /// Their opt-in, when given with the registration.
    pub opt_in: Option<ConsentInput>,
}

/// A customer with their consent history.
#[derive(Debug, Clone)]
pub struct CustomerDetail {
    /// The customer.
    pub customer: CustomerRow,
    /// Every opt-in and opt-out, oldest first.
    pub consents: Vec<ConsentRow>,
}

fn validate_consent(
    kind: &str,
    input: &ConsentInput,
    pointer: &str,
    now: DateTime<Utc>,
    problems: &mut Vec<InputProblem>,
) {
    if input.method.trim().is_empty() {
        problems.push(at(
            &format!("{pointer}/method"),
            "how it was given: web_form, in_person, whatsapp, ...",
        ));
    }
    if kind == "opt_in" && input.wording.as_deref().is_none_or(|w| w.trim().is_empty()) {
        problems.push(at(
            &format!("{pointer}/wording"),
            "the wording the customer agreed to: the evidence of an approved opt-in",
        ));
    }
    if input
        .at
        .is_some_and(|at| at > now + chrono::Duration::minutes(5))
    {
        problems.push(at(
            &format!("{pointer}/at"),
            "consent cannot be given in the future",
        ));
    }
}

fn audit_entry(caller: &str, action: &str, customer: &CustomerRow) -> AuditEntry {
    AuditEntry::now(
        caller,
        action,
        format!("customer:{}", customer.id),
        Some(&customer.workspace_id),
        json!({ "customer_id": customer.id }),
    )
}

/// Registers a customer of `workspace` (with their opt-in, when given).
pub async fn register(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    new: &NewCustomer,
) -> Result<CustomerDetail, ReminderError> {
    let workspace = super::visible_workspace(pool, caller, workspace).await?;
    let now = Utc::now();
    let mut problems = Vec::new();
    let wa_id = match (&new.wa_id, &new.phone) {
        (None, None) => {
            problems.push(at("/wa_id", "a customer is reached by `wa_id` or `phone`"));
            None
        }
        (Some(text), _) | (None, Some(text)) => {
            let pointer = if new.wa_id.is_some() {
                "/wa_id"
            } else {
                "/phone"
            };
            let wa_id = normalise_customer(text);
            if wa_id.is_none() {
                problems.push(at(
                    pointer,
                    "not a phone number: 6 to 15 digits, optionally with a leading +",
                ));
            }
            wa_id
        }
    };
    if new.timezone.parse::<chrono_tz::Tz>().is_err() {
        problems.push(at(
            "/timezone",
            format!(
                "`{}` is not an IANA time zone (such as Europe/Berlin)",
                new.timezone
            ),
        ));
    }
    if let Some(consent) = &new.opt_in {
        validate_consent("opt_in", consent, "/opt_in", now, &mut problems);
    }
    let Some(wa_id) = wa_id.filter(|_| problems.is_empty()) else {
        return Err(ReminderError::Invalid(problems));
    };
    let mut tx = pool.begin().await?;
    let id = store::insert(
        &mut tx,
        &NewCustomerRow {
            id: Uuid::now_v7(),
            workspace_id: &workspace,
            wa_id: &wa_id,
            name: new.name.as_deref(),
            timezone: &new.timezone,
            language: new.language.as_deref().unwrap_or("en_US"),
        },
    )
    .await?
    .ok_or_else(|| {
        ReminderError::Conflict(
            "customer-exists",
            "this workspace has a customer with that WhatsApp number already".into(),
        )
    })?;
    let customer = store::get(&mut tx, id)
        .await?
        .ok_or(ReminderError::NotFound("customer", id))?;
    let mut entries = vec![audit_entry(
        &caller.person,
        "customer.registered",
        &customer,
    )];
    if let Some(consent) = &new.opt_in {
        store::add_consent(
            &mut tx,
            &customer,
            &consent_row("opt_in", consent, &caller.person, now),
        )
        .await?;
        entries.push(audit_entry(&caller.person, "customer.opted_in", &customer));
    }
    audit::append(&mut tx, &entries).await?;
    tx.commit().await?;
    get(pool, caller, &workspace, id).await
}

fn consent_row(kind: &str, input: &ConsentInput, by: &str, now: DateTime<Utc>) -> ConsentRow {
    ConsentRow {
        kind: kind.to_owned(),
        at: input.at.unwrap_or(now),
        method: input.method.trim().to_owned(),
        recorded_by: by.to_owned(),
        wording: input.wording.clone(),
    }
}

/// Records a customer's opt-in or opt-out.
pub async fn record_consent(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    id: Uuid,
    opt_in: bool,
    input: &ConsentInput,
) -> Result<CustomerDetail, ReminderError> {
    let workspace = super::visible_workspace(pool, caller, workspace).await?;
    let kind = if opt_in { "opt_in" } else { "opt_out" };
    let now = Utc::now();
    let mut problems = Vec::new();
    validate_consent(kind, input, "", now, &mut problems);
    if !problems.is_empty() {
        return Err(ReminderError::Invalid(problems));
    }
    let mut tx = pool.begin().await?;
    let customer = store::get(&mut tx, id)
        .await?
        .filter(|c| c.workspace_id == workspace)
        .ok_or(ReminderError::NotFound("customer", id))?;
    store::add_consent(
        &mut tx,
        &customer,
        &consent_row(kind, input, &caller.person, now),
    )
    .await?;
    let action = if opt_in {
        "customer.opted_in"
    } else {
        "customer.opted_out"
    };
    audit::append(&mut tx, &[audit_entry(&caller.person, action, &customer)]).await?;
    tx.commit().await?;
    get(pool, caller, &workspace, id).await
}

/// Records the opt-out of a customer whose message to the workspace said only a stop
/// word; answers whether it did (it is recorded as `keyword`, by the service).
pub async fn opt_out_by_keyword(
    conn: &mut sqlx::PgConnection,
    workspace: &str,
    from: &str,
    text: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let said = text.trim().to_lowercase();
    if !STOP_KEYWORDS.contains(&said.as_str()) {
        return Ok(false);
    }
    let Some(customer) = store::by_wa_id(conn, workspace, from).await? else {
        return Ok(false);
    };
    if customer.consent.as_deref() == Some("opt_out") {
        return Ok(false);
    }
    let consent = ConsentRow {
        kind: "opt_out".into(),
        at,
        method: "keyword".into(),
        recorded_by: ACTOR.into(),
        wording: None,
    };
    store::add_consent(conn, &customer, &consent).await?;
    audit::append(conn, &[audit_entry(ACTOR, "customer.opted_out", &customer)]).await?;
    Ok(true)
}

/// One customer of `workspace`.
pub async fn get(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    id: Uuid,
) -> Result<CustomerDetail, ReminderError> {
    let workspace = super::visible_workspace(pool, caller, workspace).await?;
    let mut conn = pool.acquire().await?;
    let customer = store::get(&mut conn, id)
        .await?
        .filter(|c| c.workspace_id == workspace)
        .ok_or(ReminderError::NotFound("customer", id))?;
    let consents = store::consents(&mut conn, id).await?;
    Ok(CustomerDetail { customer, consents })
}

/// A workspace's customers, newest first.
pub async fn list(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    limit: i64,
) -> Result<Vec<CustomerRow>, ReminderError> {
    let workspace = super::visible_workspace(pool, caller, workspace).await?;
    let mut conn = pool.acquire().await?;
    Ok(store::list(&mut conn, &workspace, limit).await?)
}

/// The customer a booking names, if they may be booked: found in the workspace, opted in,
/// and not reported undeliverable; otherwise the problem at `/customer`.
pub(super) async fn bookable(
    conn: &mut sqlx::PgConnection,
    workspace: &str,
    customer: &super::appointments::CustomerRef,
) -> Result<CustomerRow, Vec<InputProblem>> {
    let found = match (customer.id, &customer.wa_id, &customer.phone) {
        (Some(id), _, _) => store::get(conn, id)
            .await
            .ok()
            .flatten()
            .filter(|c| c.workspace_id == workspace),
        (None, Some(text), _) | (None, None, Some(text)) => {
            let Some(wa_id) = normalise_customer(text) else {
                return Err(vec![at("/customer", "not a phone number: 6 to 15 digits")]);
            };
            store::by_wa_id(conn, workspace, &wa_id)
                .await
                .ok()
                .flatten()
        }
        (None, None, None) => {
            return Err(vec![at(
                "/customer",
                "name the customer by `id`, `wa_id` or `phone`",
            )]);
        }
    };
    let Some(customer) = found else {
        return Err(vec![at(
            "/customer",
            "no such customer in this workspace: register them first (POST …/customers)",
        )]);
    };
    if customer.consent.as_deref() != Some("opt_in") {
        return Err(vec![at(
            "/customer",
            "the customer has not opted in to WhatsApp reminders (or opted out): record their opt-in first",
        )]);
    }
    if customer.undeliverable_at.is_some() {
        return Err(vec![at(
            "/customer",
            "Meta reported that this number cannot receive WhatsApp messages",
        )]);
    }
    Ok(customer)
}
