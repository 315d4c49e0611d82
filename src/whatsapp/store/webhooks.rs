//! Webhook deliveries (`webhook_events`) and what processing them maintains: message
//! statuses (monotone), inbound messages, template statuses.

use sqlx::PgConnection;

/// Stores a delivery; `false` when the same body was stored before (a duplicate).
pub async fn insert(conn: &mut PgConnection, body: &[u8], sha256: &[u8]) -> sqlx::Result<bool> {
    let stored = sqlx::query!(
        "insert into webhook_events (body, body_sha256) values ($1, $2)
         on conflict (body_sha256) do nothing",
        body,
        sha256
    )
    .execute(conn)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// An unprocessed delivery.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    /// Id.
    pub id: i64,
    /// Raw body.
    pub body: Vec<u8>,
}

/// Locks up to `limit` unprocessed deliveries, oldest first (others skip them).
pub async fn lock_unprocessed(
    conn: &mut PgConnection,
    limit: i64,
) -> sqlx::Result<Vec<PendingDelivery>> {
    sqlx::query_as!(
        PendingDelivery,
        "select id, body from webhook_events where processed_at is null
         order by id limit $1 for update skip locked",
        limit
    )
    .fetch_all(conn)
    .await
}

/// Marks a delivery processed, with the error that made part of it unusable, if any,
/// and whom it is about (its workspace and the customers it names).
pub async fn mark_processed(
    conn: &mut PgConnection,
    id: i64,
    error: Option<&str>,
    workspace_id: Option<&str>,
    customers: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "update webhook_events set processed_at = now(), error = $2, workspace_id = $3,
                customers = $4
         where id = $1",
        id,
        error,
        workspace_id,
        customers
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a message's status forward: sent < failed < delivered < read. A late or
/// repeated event never moves it back.
pub async fn advance_status(
    conn: &mut PgConnection,
    message_id: &str,
    workspace_id: Option<&str>,
    recipient_id: Option<&str>,
    status: &str,
    error_code: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into message_statuses (message_id, workspace_id, status, error_code, recipient_id)
         values ($1, $2, $3, $4, $5)
         on conflict (message_id) do update
         set status = excluded.status, error_code = excluded.error_code, updated_at = now()
         where array_position(array['sent', 'failed', 'delivered', 'read'], excluded.status)
             > array_position(array['sent', 'failed', 'delivered', 'read'], message_statuses.status)",
        message_id,
        workspace_id,
        status,
        error_code,
        recipient_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores an inbound message once.
pub async fn insert_inbound(
    conn: &mut PgConnection,
    message_id: &str,
    workspace_id: Option<&str>,
    from: &str,
    kind: &str,
    payload: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into inbound_messages (message_id, workspace_id, from_number, message_type, payload)
         values ($1, $2, $3, $4, $5) on conflict (message_id) do nothing",
        message_id,
        workspace_id,
        from,
        kind,
        payload
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The workspace of a phone number id or a WABA id.
pub async fn workspace_of(
    conn: &mut PgConnection,
    phone_number_id: Option<&str>,
    waba_id: Option<&str>,
) -> sqlx::Result<Option<String>> {
    let row = sqlx::query_scalar!(
        "select id from workspaces
         where ($1::text is not null and phone_number_id = $1)
            or ($2::text is not null and waba_id = $2)
         order by updated_at desc limit 1",
        phone_number_id,
        waba_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

/// Records a template's new status (by Meta's template id); returns the run following it.
pub async fn set_template_status(
    conn: &mut PgConnection,
    meta_template_id: &str,
    status: &str,
    reason: Option<&str>,
) -> sqlx::Result<Option<uuid::Uuid>> {
    let run = sqlx::query_scalar!(
        "with changed as (
             update whatsapp_templates set status = $2, reason = $3, updated_at = now()
             where meta_template_id = $1 returning id, run_id
         ),
         event as (
             insert into template_events (template_id, status, reason, source)
             select id, $2, $3, 'webhook' from changed
         )
         select run_id from changed",
        meta_template_id,
        status,
        reason
    )
    .fetch_optional(conn)
    .await?;
    Ok(run.flatten())
}
