//! The `workspaces` table (a business's WhatsApp connection) and the sealed secrets an
//! onboarding run needs (`onboarding_secrets`).

use crate::store::ids::WorkspaceId;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A workspace row, without its sealed token.
#[derive(Debug, Clone)]
pub struct WorkspaceRow {
    /// Id, e.g. `ws_01j…`.
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// onboarding, active, needs_reauth, disconnected, closed.
    pub status: String,
    /// Meta business portfolio.
    pub business_id: Option<String>,
    /// WhatsApp Business Account.
    pub waba_id: Option<String>,
    /// Registered phone number id.
    pub phone_number_id: Option<String>,
    /// As customers see it.
    pub display_phone_number: Option<String>,
    /// Why the status is what it is (e.g. the error that needs re-authentication).
    pub status_reason: Option<String>,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Creates a workspace.
pub async fn insert(
    conn: &mut PgConnection,
    id: &str,
    name: &str,
    by: &str,
) -> sqlx::Result<WorkspaceRow> {
    sqlx::query_as!(
        WorkspaceRow,
        "insert into workspaces (id, name, created_by) values ($1, $2, $3)
         returning id, name, status, business_id, waba_id, phone_number_id, display_phone_number,
                   status_reason, created_by, created_at, updated_at",
        id,
        name,
        by
    )
    .fetch_one(conn)
    .await
}

/// One workspace.
pub async fn get(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<WorkspaceRow>> {
    sqlx::query_as!(
        WorkspaceRow,
        "select id, name, status, business_id, waba_id, phone_number_id, display_phone_number,
                status_reason, created_by, created_at, updated_at
         from workspaces where id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

/// Workspaces, oldest first; only `scope` when given.
pub async fn list(conn: &mut PgConnection, scope: Option<&str>) -> sqlx::Result<Vec<WorkspaceRow>> {
    sqlx::query_as!(
        WorkspaceRow,
        "select id, name, status, business_id, waba_id, phone_number_id, display_phone_number,
                status_reason, created_by, created_at, updated_at
         from workspaces where $1::text is null or id = $1 order by created_at, id",
        scope
    )
    .fetch_all(conn)
    .await
}

/// Sets the status and its reason; `false` (and nothing changed) when the workspace is
/// closed, which only [`reopen`] undoes.
pub async fn set_status(
    conn: &mut PgConnection,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> sqlx::Result<bool> {
    let changed = sqlx::query!(
        "update workspaces set status = $2, status_reason = $3, updated_at = now()
         where id = $1 and status <> 'closed'",
        id,
        status,
        reason
    )
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// Stores the sealed business token an onboarding obtained; `false` when the workspace
/// is closed.
pub async fn set_token(
    conn: &mut PgConnection,
    id: &str,
    sealed: &[u8],
    onboarding_id: Uuid,
) -> sqlx::Result<bool> {
    let stored = sqlx::query!(
        "update workspaces set access_token_sealed = $2, token_onboarding_id = $3,
                updated_at = now()
         where id = $1 and status <> 'closed'",
        id,
        sealed,
        onboarding_id
    )
    .execute(conn)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// The onboarding that stored the workspace's current token.
pub async fn token_onboarding(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<Uuid>> {
    let row = sqlx::query!(
        "select token_onboarding_id from workspaces where id = $1",
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|row| row.token_onboarding_id))
}

/// The sealed business token, if the workspace has one.
pub async fn token(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    let row = sqlx::query!(
        "select access_token_sealed from workspaces where id = $1",
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|row| row.access_token_sealed))
}

/// Records the WABA (and business) the token was granted.
pub async fn set_waba(
    conn: &mut PgConnection,
    id: &str,
    waba_id: &str,
    business_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update workspaces set waba_id = $2, business_id = coalesce($3, business_id),
                updated_at = now() where id = $1 and status <> 'closed'",
        id,
        waba_id,
        business_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the phone number.
pub async fn set_phone(
    conn: &mut PgConnection,
    id: &str,
    phone_number_id: &str,
    display: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update workspaces set phone_number_id = $2, display_phone_number = $3, updated_at = now()
         where id = $1 and status <> 'closed'",
        id,
        phone_number_id,
        display
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores an onboarding's sealed code and PIN under `id` (named in the run's input).
pub async fn insert_onboarding_secrets(
    conn: &mut PgConnection,
    id: Uuid,
    workspace_id: &str,
    code_sealed: &[u8],
    pin_sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into onboarding_secrets (id, workspace_id, code_sealed, pin_sealed)
         values ($1, $2, $3, $4)",
        id,
        workspace_id,
        code_sealed,
        pin_sealed
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An onboarding's sealed `(code, pin)`; the code is gone once exchanged.
pub async fn onboarding_secrets(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<(Option<Vec<u8>>, Vec<u8>)>> {
    let row = sqlx::query!(
        "select code_sealed, pin_sealed from onboarding_secrets where id = $1",
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.code_sealed, row.pin_sealed)))
}

/// Upserts a template as Meta reports it.
#[allow(clippy::too_many_arguments)]
pub async fn upsert_template(
    conn: &mut PgConnection,
    workspace_id: &str,
    name: &str,
    language: &str,
    category: &str,
    components: &serde_json::Value,
    meta_template_id: &str,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into whatsapp_templates (workspace_id, name, language, category, components,
                                         meta_template_id, status)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (workspace_id, name, language) do update
         set category = excluded.category, components = excluded.components,
             meta_template_id = excluded.meta_template_id, status = excluded.status,
             updated_at = now()",
        workspace_id,
        name,
        language,
        category,
        components,
        meta_template_id,
        status
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes a workspace: status `closed`, its token wiped. `false` when it was closed already.
pub async fn close(conn: &mut PgConnection, id: &str, reason: &str) -> sqlx::Result<bool> {
    let closed = sqlx::query!(
        "update workspaces set status = 'closed', status_reason = $2, access_token_sealed = null,
                updated_at = now()
         where id = $1 and status <> 'closed'",
        id,
        reason
    )
    .execute(conn)
    .await?;
    Ok(closed.rows_affected() == 1)
}

/// Reopens a closed workspace as `disconnected`. `false` when it was not closed.
pub async fn reopen(conn: &mut PgConnection, id: &str, reason: &str) -> sqlx::Result<bool> {
    let reopened = sqlx::query!(
        "update workspaces set status = 'disconnected', status_reason = $2, updated_at = now()
         where id = $1 and status = 'closed'",
        id,
        reason
    )
    .execute(conn)
    .await?;
    Ok(reopened.rows_affected() == 1)
}

/// Deletes the code and PIN of every onboarding of a workspace.
pub async fn delete_onboarding_secrets_of(conn: &mut PgConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from onboarding_secrets where workspace_id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Clears an onboarding's code once exchanged (a code works once).
pub async fn clear_onboarding_code(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update onboarding_secrets set code_sealed = null where id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes an onboarding's code and PIN once it no longer needs them.
pub async fn delete_onboarding_secrets(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("delete from onboarding_secrets where id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes the code and PIN of onboardings whose run has finished however it ended
/// (failed or cancelled runs never reach the step that deletes them); answers how many.
pub async fn delete_finished_onboarding_secrets(conn: &mut PgConnection) -> sqlx::Result<u64> {
    let deleted = sqlx::query!(
        "delete from onboarding_secrets s
         using runs r
         where r.idempotency_scope = 'service'
           and r.workflow = 'onboarding'
           and r.workspace_id = s.workspace_id
           and r.idempotency_key = 'onboarding:' || s.id::text
           and r.finished_at is not null"
    )
    .execute(conn)
    .await?;
    Ok(deleted.rows_affected())
}

/// Marks a workspace `disconnected` and deletes its token; `false` when it is closed.
pub async fn disconnect(conn: &mut PgConnection, id: &str, reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update workspaces set status = 'disconnected', status_reason = $2,
                access_token_sealed = null, token_onboarding_id = null, updated_at = now()
         where id = $1 and status <> 'closed'",
    )
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
