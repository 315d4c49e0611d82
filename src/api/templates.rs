//! `/v1/workspaces/{id}/templates`: submit message templates for Meta's review and follow
//! their status and history.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use super::workspaces::workspace_id;
use crate::engine::Engine;
use crate::security::Permission;
use crate::whatsapp::templates::{
    self, TemplateError, TemplateEventRow, TemplateRequest, TemplateRow,
};

/// A template to submit.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SubmitTemplateRequest {
    /// 1 to 512 lowercase letters, digits or `_`.
    #[oai(validator(max_length = 512))]
    pub name: String,
    /// Language code, e.g. `en_US`.
    #[oai(validator(max_length = 20))]
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    #[oai(validator(max_length = 20))]
    pub category: String,
    /// Meta components: exactly one `BODY`; optional `HEADER`, `FOOTER`, `BUTTONS`.
    #[oai(validator(max_items = 10))]
    pub components: Vec<Value>,
    /// Example values for the body's `{{1}}`, `{{2}}`, … in order.
    #[oai(default, validator(max_items = 100))]
    pub examples: Vec<String>,
    /// How long Meta keeps trying to deliver a message of this template to a phone it
    /// cannot reach, in seconds (AUTHENTICATION 30–900, UTILITY 30–43200, MARKETING
    /// 43200–2592000); Meta's default (30 days) when absent. A reminder template wants a
    /// short one: an undelivered reminder is dropped instead of arriving after the
    /// appointment.
    pub message_send_ttl_seconds: Option<i64>,
}

impl Example for SubmitTemplateRequest {
    fn example() -> Self {
        Self {
            name: "appointment_reminder".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            components: vec![json!({ "type": "BODY", "text": "Hi {{1}}, see you on {{2}}." })],
            examples: vec!["Ana".into(), "Friday at 10:00".into()],
            message_send_ttl_seconds: Some(3600),
        }
    }
}

/// One status a template had.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateEventView {
    /// When.
    pub at: DateTime<Utc>,
    /// Status.
    pub status: String,
    /// Meta's reason (rejections).
    pub reason: Option<String>,
    /// `submission`, `webhook` or `poll`.
    pub source: String,
}

impl From<TemplateEventRow> for TemplateEventView {
    fn from(row: TemplateEventRow) -> Self {
        Self {
            at: row.at,
            status: row.status,
            reason: row.reason,
            source: row.source,
        }
    }
}

/// A template with its status.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateView {
    /// Our id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Language.
    pub language: String,
    /// Category.
    pub category: String,
    /// DRAFT (not yet submitted), PENDING, APPROVED, REJECTED, PAUSED, DISABLED, …
    pub status: String,
    /// Meta's reason for the status (rejections).
    pub reason: Option<String>,
    /// Meta's template id, once submitted.
    pub meta_template_id: Option<String>,
    /// The approval run.
    pub run_id: Option<Uuid>,
    /// Components as submitted.
    pub components: Value,
    /// How long Meta tries to deliver a message of this template, in seconds (absent:
    /// Meta's default, 30 days).
    pub message_send_ttl_seconds: Option<i32>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Every status it had (single-template reads only).
    pub history: Option<Vec<TemplateEventView>>,
}

impl From<TemplateRow> for TemplateView {
    fn from(row: TemplateRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            language: row.language,
            category: row.category,
            status: row.status,
            reason: row.reason,
            meta_template_id: row.meta_template_id,
            run_id: row.run_id,
            components: row.components,
            message_send_ttl_seconds: row.message_send_ttl_seconds,
            updated_at: row.updated_at,
            history: None,
        }
    }
}

/// Templates of a workspace.
#[derive(Debug, Object)]
pub struct TemplateList {
    /// By name.
    pub items: Vec<TemplateView>,
}

#[derive(ApiResponse)]
enum SubmitResponse {
    /// Stored and on its way to Meta; follow it here or at `/v1/runs/{run_id}`.
    #[oai(status = 201)]
    Submitted(Json<TemplateView>),
}

impl From<TemplateError> for ApiError {
    fn from(error: TemplateError) -> Self {
        match error {
            TemplateError::Invalid(problems) => ApiError::invalid(
                "invalid-template",
                "The template breaks Meta's rules",
                problems,
            ),
            TemplateError::Exists(_) => ApiError::conflict("template-exists", error.to_string()),
            TemplateError::WorkspaceNotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            TemplateError::NotFound(_) => {
                ApiError::not_found("template-not-found", error.to_string())
            }
            TemplateError::Engine(error) => error.into(),
            TemplateError::Database(error) => error.into(),
        }
    }
}

/// The templates resource.
pub struct TemplatesApi {
    /// The engine.
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Workspaces")]
impl TemplatesApi {
    /// Submit a template
    ///
    /// Checks the template against Meta's rules first and answers 422 listing every
    /// problem at once; otherwise stores it and starts its approval workflow.
    #[oai(
        path = "/v1/workspaces/:id/templates",
        method = "post",
        operation_id = "submit_template"
    )]
    async fn submit(
        &self,
        auth: ApiKey,
        id: Path<String>,
        body: Json<SubmitTemplateRequest>,
    ) -> Result<SubmitResponse, ApiError> {
        let caller = auth.require(Permission::ManageWorkspaces)?;
        let body = body.0;
        let request = TemplateRequest {
            name: body.name,
            language: body.language,
            category: body.category,
            components: body.components,
            examples: body.examples,
            message_send_ttl_seconds: body.message_send_ttl_seconds,
        };
        let (mut row, run) =
            templates::submit(&self.engine, caller, &workspace_id(&id.0)?, &request).await?;
        row.run_id = Some(run.id.uuid());
        Ok(SubmitResponse::Submitted(Json(row.into())))
    }

    /// List templates
    ///
    /// Every template of the workspace with its current status.
    #[oai(
        path = "/v1/workspaces/:id/templates",
        method = "get",
        operation_id = "list_templates"
    )]
    async fn list(&self, auth: ApiKey, id: Path<String>) -> Result<Json<TemplateList>, ApiError> {
        let rows = templates::list(self.engine.pool(), &auth.0, &workspace_id(&id.0)?).await?;
        Ok(Json(TemplateList {
            items: rows.into_iter().map(TemplateView::from).collect(),
        }))
    }

    /// Get a template
    ///
    /// The template with every status it had (submission, webhooks, polls).
    #[oai(
        path = "/v1/workspaces/:id/templates/:tid",
        method = "get",
        operation_id = "get_template"
    )]
    async fn get(
        &self,
        auth: ApiKey,
        id: Path<String>,
        tid: Path<i64>,
    ) -> Result<Json<TemplateView>, ApiError> {
        let (row, events) =
            templates::get(self.engine.pool(), &auth.0, &workspace_id(&id.0)?, tid.0).await?;
        let mut view = TemplateView::from(row);
        view.history = Some(events.into_iter().map(TemplateEventView::from).collect());
        Ok(Json(view))
    }
}
