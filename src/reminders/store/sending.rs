//! What a reminder's send needs from its workspace and template, read in one statement at
//! fire time; and the template marked paused or disabled on the workspace when Meta
//! refuses it.

use serde_json::Value;
use sqlx::PgConnection;

use crate::whatsapp::store::templates;

/// The workspace and template as a send finds them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendContext {
    /// The workspace's status (`None`: no such workspace).
    pub workspace_status: Option<String>,
    /// Its connected number.
    pub phone_number_id: Option<String>,
    /// Its sealed business token.
    pub access_token_sealed: Option<Vec<u8>>,
    /// The template's review status (`None`: no such template in that language).
    pub template_status: Option<String>,
    /// The template's components (its body's `{{n}}` decide the parameters).
    pub components: Option<Value>,
}

/// The workspace and its `template` in `language`, in one read.
pub async fn context(
    conn: &mut PgConnection,
    workspace_id: &str,
    template: &str,
    language: &str,
) -> sqlx::Result<SendContext> {
    sqlx::query_as(
        "select w.status as workspace_status, w.phone_number_id, w.access_token_sealed,
                t.status as template_status, t.components
         from (select 1) one
         left join workspaces w on w.id = $1
         left join whatsapp_templates t on t.workspace_id = $1 and t.name = $2 and t.language = $3",
    )
    .bind(workspace_id)
    .bind(template)
    .bind(language)
    .fetch_one(conn)
    .await
}

/// Records Meta's refusal of a template (`status`, e.g. `PAUSED`) on the workspace's copy
/// in `language`, with an event from source `send_refused`, so the business sees it in its
/// template list before Meta's status webhook arrives. Answers whether it changed.
pub async fn mark_template(
    conn: &mut PgConnection,
    workspace_id: &str,
    (template, language): (&str, &str),
    status: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let found: Option<(i64, String)> = sqlx::query_as(
        "select id, status from whatsapp_templates
         where workspace_id = $1 and name = $2 and language = $3 for update",
    )
    .bind(workspace_id)
    .bind(template)
    .bind(language)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, current)) = found.filter(|(_, current)| current != status) else {
        return Ok(false);
    };
    tracing::debug!(template.id = id, from = %current, to = status, "template refused at send");
    templates::record_status(conn, id, None, status, Some(reason), "send_refused").await?;
    Ok(true)
}
