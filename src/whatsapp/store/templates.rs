//! Message templates of a workspace (`whatsapp_templates`) and their status history
//! (`template_events`).

use crate::store::ids::WorkspaceId;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// A template.
#[derive(Debug, Clone)]
pub struct TemplateRow {
    /// Our id.
    pub id: i64,
    /// Workspace.
    pub workspace_id: WorkspaceId,
    /// Name.
    pub name: String,
    /// Language, e.g. `en_US`.
    pub language: String,
    /// Category.
    pub category: String,
    /// Components as submitted to Meta.
    pub components: Value,
    /// Meta's id, once submitted.
    pub meta_template_id: Option<String>,
    /// DRAFT (not yet submitted), PENDING, APPROVED, REJECTED, PAUSED, DISABLED, …
    pub status: String,
    /// Why (rejections).
    pub reason: Option<String>,
    /// The approval run.
    pub run_id: Option<Uuid>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// How long Meta tries to deliver a message of this template (`None`: Meta's default).
    pub message_send_ttl_seconds: Option<i32>,
}

/// A status change.
#[derive(Debug, Clone)]
pub struct TemplateEventRow {
    /// When.
    pub at: DateTime<Utc>,
    /// Status.
    pub status: String,
    /// Reason.
    pub reason: Option<String>,
    /// `submission`, `webhook` or `poll`.
    pub source: String,
}

/// A template as it is drafted.
pub struct Draft<'a> {
    /// Name.
    pub name: &'a str,
    /// Language.
    pub language: &'a str,
    /// Category.
    pub category: &'a str,
    /// Components as Meta takes them.
    pub components: &'a Value,
    /// Meta's `message_send_ttl_seconds`, already checked against the category's range.
    pub message_send_ttl_seconds: Option<i32>,
}

/// Creates a draft; `None` when the workspace has a template of that name and language.
pub async fn insert_draft(
    conn: &mut PgConnection,
    workspace_id: &str,
    draft: &Draft<'_>,
) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as!(
        TemplateRow,
        "insert into whatsapp_templates (workspace_id, name, language, category, components, status,
             message_send_ttl_seconds)
         values ($1, $2, $3, $4, $5, 'DRAFT', $6)
         on conflict (workspace_id, name, language) do nothing
         returning id, workspace_id, name, language, category, components, meta_template_id,
                   status, reason, run_id, updated_at, message_send_ttl_seconds",
        workspace_id,
        draft.name,
        draft.language,
        draft.category,
        draft.components,
        draft.message_send_ttl_seconds
    )
    .fetch_optional(conn)
    .await
}

/// One template.
pub async fn get(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as!(
        TemplateRow,
        "select id, workspace_id, name, language, category, components, meta_template_id,
                status, reason, run_id, updated_at, message_send_ttl_seconds
         from whatsapp_templates where id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

/// A workspace's templates by name.
pub async fn list(conn: &mut PgConnection, workspace_id: &str) -> sqlx::Result<Vec<TemplateRow>> {
    sqlx::query_as!(
        TemplateRow,
        "select id, workspace_id, name, language, category, components, meta_template_id,
                status, reason, run_id, updated_at, message_send_ttl_seconds
         from whatsapp_templates where workspace_id = $1 order by name, language",
        workspace_id
    )
    .fetch_all(conn)
    .await
}

/// Links the approval run.
pub async fn set_run(conn: &mut PgConnection, id: i64, run_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update whatsapp_templates set run_id = $2 where id = $1",
        id,
        run_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records Meta's id and a status, with the event saying where it came from.
pub async fn record_status(
    conn: &mut PgConnection,
    id: i64,
    meta_template_id: Option<&str>,
    status: &str,
    reason: Option<&str>,
    source: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "with changed as (
             update whatsapp_templates
             set meta_template_id = coalesce($2, meta_template_id), status = $3, reason = $4,
                 updated_at = now()
             where id = $1 and (status is distinct from $3 or meta_template_id is null)
             returning id
         )
         insert into template_events (template_id, status, reason, source)
         select id, $3, $4, $5 from changed",
        id,
        meta_template_id,
        status,
        reason,
        source
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A template's status history, oldest first.
pub async fn events(conn: &mut PgConnection, id: i64) -> sqlx::Result<Vec<TemplateEventRow>> {
    sqlx::query_as!(
        TemplateEventRow,
        "select at, status, reason, source from template_events where template_id = $1 order by id",
        id
    )
    .fetch_all(conn)
    .await
}

/// A submitted template still `PENDING` that no live run follows any more.
#[derive(Debug, Clone)]
pub struct StalePending {
    /// Template id.
    pub id: i64,
    /// Workspace.
    pub workspace_id: String,
    /// Meta's id of the template.
    pub meta_template_id: String,
}

/// Templates Meta has but whose approval run ended (failed, cancelled) or never existed
/// while they are still `PENDING` here, not changed for `quiet_seconds`; oldest first.
pub async fn stale_pending(
    conn: &mut PgConnection,
    quiet_seconds: f64,
    limit: i64,
) -> sqlx::Result<Vec<StalePending>> {
    sqlx::query_as!(
        StalePending,
        r#"select t.id, t.workspace_id, t.meta_template_id as "meta_template_id!"
           from whatsapp_templates t
           left join runs r on r.id = t.run_id
           where t.status = 'PENDING' and t.meta_template_id is not null
             and (r.id is null or r.status in ('succeeded', 'failed', 'cancelled'))
             and t.updated_at < now() - make_interval(secs => $1)
           order by t.id
           limit $2"#,
        quiet_seconds,
        limit
    )
    .fetch_all(conn)
    .await
}
