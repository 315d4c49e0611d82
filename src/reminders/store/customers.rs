//! `customers`, `customer_consents` and `reminder_policies`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::security::visibility::InWorkspace;

/// A customer of a workspace.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    /// Id.
    pub id: Uuid,
    /// The workspace.
    pub workspace_id: String,
    /// WhatsApp id.
    pub wa_id: String,
    /// Name.
    pub name: Option<String>,
    /// IANA time zone.
    pub timezone: String,
    /// Template language, e.g. `en_US`.
    pub language: String,
    /// When Meta said the number cannot receive messages.
    pub undeliverable_at: Option<DateTime<Utc>>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// The latest consent: `opt_in`, `opt_out` or none.
    pub consent: Option<String>,
}

impl InWorkspace for CustomerRow {
    fn workspace(&self) -> Option<&str> {
        Some(&self.workspace_id)
    }
}

const COLUMNS: &str = "c.id, c.workspace_id, c.wa_id, c.name, c.timezone, c.language,
    c.undeliverable_at, c.created_at,
    (select kind from customer_consents k where k.customer_id = c.id order by k.id desc limit 1) as consent";

/// What a new customer stores.
#[derive(Debug, Clone)]
pub struct NewCustomerRow<'a> {
    /// Id.
    pub id: Uuid,
    /// The workspace.
    pub workspace_id: &'a str,
    /// WhatsApp id.
    pub wa_id: &'a str,
    /// Name.
    pub name: Option<&'a str>,
    /// IANA zone.
    pub timezone: &'a str,
    /// Language.
    pub language: &'a str,
}

/// Stores a customer; `None` when the workspace has one with that `wa_id` already.
pub async fn insert(
    conn: &mut PgConnection,
    row: &NewCustomerRow<'_>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "insert into customers (id, workspace_id, wa_id, name, timezone, language)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (workspace_id, wa_id) do nothing returning id",
    )
    .bind(row.id)
    .bind(row.workspace_id)
    .bind(row.wa_id)
    .bind(row.name)
    .bind(row.timezone)
    .bind(row.language)
    .fetch_optional(conn)
    .await
}

/// One customer.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from customers c where c.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A workspace's customer by `wa_id`.
pub async fn by_wa_id(
    conn: &mut PgConnection,
    workspace_id: &str,
    wa_id: &str,
) -> sqlx::Result<Option<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from customers c where c.workspace_id = $1 and c.wa_id = $2"
    )))
    .bind(workspace_id)
    .bind(wa_id)
    .fetch_optional(conn)
    .await
}

/// A workspace's customers, newest first.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from customers c where c.workspace_id = $1
         order by c.created_at desc, c.id desc limit $2"
    )))
    .bind(workspace_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One recorded consent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    /// `opt_in` or `opt_out`.
    pub kind: String,
    /// When the customer gave or withdrew it.
    pub at: DateTime<Utc>,
    /// How: `web_form`, `in_person`, `whatsapp`, `keyword`, `api`, ...
    pub method: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// The wording the customer agreed to.
    pub wording: Option<String>,
}

/// Records a consent.
pub async fn add_consent(
    conn: &mut PgConnection,
    customer: &CustomerRow,
    consent: &ConsentRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into customer_consents (customer_id, workspace_id, kind, at, method, recorded_by, wording)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(customer.id)
    .bind(&customer.workspace_id)
    .bind(&consent.kind)
    .bind(consent.at)
    .bind(&consent.method)
    .bind(&consent.recorded_by)
    .bind(&consent.wording)
    .execute(conn)
    .await?;
    Ok(())
}

/// A customer's consents, oldest first.
pub async fn consents(conn: &mut PgConnection, customer: Uuid) -> sqlx::Result<Vec<ConsentRow>> {
    sqlx::query_as(
        "select kind, at, method, recorded_by, wording from customer_consents
         where customer_id = $1 order by id",
    )
    .bind(customer)
    .fetch_all(conn)
    .await
}

/// Marks a customer undeliverable (Meta's 131026).
pub async fn set_undeliverable(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update customers set undeliverable_at = coalesce(undeliverable_at, now()) where id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A workspace's reminder policy, if it set one.
pub async fn policy(conn: &mut PgConnection, workspace_id: &str) -> sqlx::Result<Option<Value>> {
    sqlx::query_scalar("select policy from reminder_policies where workspace_id = $1")
        .bind(workspace_id)
        .fetch_optional(conn)
        .await
}

/// Sets a workspace's reminder policy.
pub async fn set_policy(
    conn: &mut PgConnection,
    workspace_id: &str,
    policy: &Value,
    by: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into reminder_policies (workspace_id, policy, updated_by) values ($1, $2, $3)
         on conflict (workspace_id) do update
         set policy = excluded.policy, updated_by = excluded.updated_by, updated_at = now()",
    )
    .bind(workspace_id)
    .bind(policy)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// The status and `message_send_ttl_seconds` of the workspace's template `name` in
/// `language`, if it has one.
pub async fn template_state(
    conn: &mut PgConnection,
    workspace_id: &str,
    name: &str,
    language: &str,
) -> sqlx::Result<Option<(String, Option<i32>)>> {
    sqlx::query_as(
        "select status, message_send_ttl_seconds from whatsapp_templates
         where workspace_id = $1 and name = $2 and language = $3",
    )
    .bind(workspace_id)
    .bind(name)
    .bind(language)
    .fetch_optional(conn)
    .await
}
