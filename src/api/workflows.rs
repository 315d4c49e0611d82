//! `/v1/workflows`: the loaded workflow definitions.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use crate::engine::Engine;
use crate::engine::definitions::definition::Definition;

/// A workflow definition.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WorkflowView {
    /// Name.
    pub name: String,
    /// Current version.
    pub version: i32,
    /// What it is for.
    pub description: String,
    /// SHA-256 of the definition file.
    pub sha256: String,
    /// JSON Schema of the input, if any.
    pub input_schema: Option<Value>,
    /// Expected completion time in seconds, if any.
    pub sla_seconds: Option<u64>,
    /// Steps in file order.
    pub steps: Vec<WorkflowStepView>,
}

/// A step of a definition.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WorkflowStepView {
    /// Step id.
    pub id: String,
    /// task, approval, wait_event or timer.
    pub kind: String,
    /// Handler of a task step.
    pub handler: Option<String>,
    /// Roles that may decide an approval step.
    pub roles: Option<Vec<String>>,
}

/// Every loaded workflow.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WorkflowList {
    /// Workflows by name.
    pub items: Vec<WorkflowView>,
}

fn view(definition: &Arc<Definition>) -> WorkflowView {
    use crate::engine::definitions::definition::StepKind;
    WorkflowView {
        name: definition.name.clone(),
        version: definition.version,
        description: definition.description.clone(),
        sha256: definition.sha256.clone(),
        input_schema: definition.input_schema.clone(),
        sla_seconds: definition.sla.map(|sla| sla.as_secs()),
        steps: definition
            .steps
            .iter()
            .map(|step| WorkflowStepView {
                id: step.id.clone(),
                kind: step.kind_name().to_owned(),
                handler: match &step.kind {
                    StepKind::Task(task) => Some(task.handler.clone()),
                    _ => None,
                },
                roles: match &step.kind {
                    StepKind::Approval(approval) => Some(approval.roles.clone()),
                    _ => None,
                },
            })
            .collect(),
    }
}

/// The workflows resource.
pub struct WorkflowsApi {
    /// The engine.
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Workflows")]
impl WorkflowsApi {
    /// List workflows
    ///
    /// Every workflow definition this service runs, at its current version.
    #[oai(
        path = "/v1/workflows",
        method = "get",
        operation_id = "list_workflows"
    )]
    async fn list(&self, _auth: ApiKey) -> Result<Json<WorkflowList>, ApiError> {
        Ok(Json(WorkflowList {
            items: self.engine.catalog().all().iter().map(view).collect(),
        }))
    }

    /// Get a workflow
    ///
    /// One workflow definition at its current version.
    #[oai(
        path = "/v1/workflows/:name",
        method = "get",
        operation_id = "get_workflow"
    )]
    async fn get(&self, _auth: ApiKey, name: Path<String>) -> Result<Json<WorkflowView>, ApiError> {
        let definition = self.engine.catalog().latest(&name.0).ok_or_else(|| {
            ApiError::not_found(
                "workflow-not-found",
                format!("workflow `{}` is not defined", name.0),
            )
        })?;
        Ok(Json(view(&definition)))
    }
}
