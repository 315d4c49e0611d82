//! Message templates: local validation (every problem at once, before Meta sees it) and
//! starting the approval workflow.

use serde_json::{Value, json};

use sqlx::PgPool;

use super::store;
pub use super::store::templates::{TemplateEventRow, TemplateRow};
use super::workspaces::{self, WorkspaceError, WorkspaceId};
use crate::engine::commands::{IdempotencyKey, StartRun};
use crate::engine::{Engine, EngineError, InputProblem, Run};
use crate::security::Caller;

/// The workflow following a template through Meta's review.
pub const APPROVAL_WORKFLOW: &str = "template_approval";

/// A template to submit.
#[derive(Debug, Clone)]
pub struct TemplateRequest {
    /// `^[a-z0-9_]{1,512}$`.
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: String,
    /// Meta components (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`).
    pub components: Vec<Value>,
    /// Example values for the body's `{{1}}`, `{{2}}`, … in order.
    pub examples: Vec<String>,
    /// How long Meta keeps trying to deliver one of its messages to an unreachable phone
    /// (`message_send_ttl_seconds`); Meta's default when `None`.
    pub message_send_ttl_seconds: Option<i64>,
}

/// The `message_send_ttl_seconds` Meta accepts for a category, in seconds.
pub fn ttl_range(category: &str) -> (i64, i64) {
    match category {
        "AUTHENTICATION" => (30, 900),
        "UTILITY" => (30, 43_200),
        _ => (43_200, 2_592_000),
    }
}

/// Longest body text Meta accepts.
const MAX_BODY: usize = 1024;
/// Longest header or footer text.
const MAX_HEADER_FOOTER: usize = 60;

/// Every problem of a template, each located by a JSON pointer.
pub fn validate(request: &TemplateRequest) -> Vec<InputProblem> {
    let mut problems = Vec::new();
    let mut problem = |pointer: &str, message: String| {
        problems.push(InputProblem {
            pointer: pointer.to_owned(),
            message,
        })
    };
    let name_ok = !request.name.is_empty()
        && request.name.len() <= 512
        && request
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        problem("/name", "1 to 512 lowercase letters, digits or `_`".into());
    }
    let language_ok = {
        let (lang, region) = request
            .language
            .split_once('_')
            .unwrap_or((&request.language, ""));
        (2..=3).contains(&lang.len())
            && lang.bytes().all(|b| b.is_ascii_lowercase())
            && (region.is_empty()
                || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
    };
    if !language_ok {
        problem(
            "/language",
            format!(
                "`{}` is not a language code like `en_US` or `de`",
                request.language
            ),
        );
    }
    if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&request.category.as_str()) {
        problem("/category", "MARKETING, UTILITY or AUTHENTICATION".into());
    }
    if let Some(seconds) = request.message_send_ttl_seconds {
        let (low, high) = ttl_range(&request.category);
        if !(low..=high).contains(&seconds) {
            problem(
                "/message_send_ttl_seconds",
                format!(
                    "Meta accepts {low} to {high} seconds for a {} template",
                    request.category
                ),
            );
        }
    }
    let bodies: Vec<(usize, &Value)> = request
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| c["type"].as_str().map(str::to_ascii_uppercase).as_deref() == Some("BODY"))
        .collect();
    if bodies.len() != 1 {
        problem(
            "/components",
            format!(
                "exactly one BODY component is needed, found {}",
                bodies.len()
            ),
        );
    }
    for (index, component) in request.components.iter().enumerate() {
        let kind = component["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let text = component["text"].as_str().unwrap_or_default();
        let pointer = format!("/components/{index}");
        match kind.as_str() {
            "BODY" => {
                if text.is_empty() || text.chars().count() > MAX_BODY {
                    problem(
                        &format!("{pointer}/text"),
                        format!("body text must be 1 to {MAX_BODY} characters"),
                    );
                }
                let placeholders = placeholders(text);
                let expected: Vec<usize> = (1..=placeholders.len()).collect();
                if placeholders != expected {
                    problem(
                        &format!("{pointer}/text"),
                        format!(
                            "placeholders must be {{{{1}}}}, {{{{2}}}}, … in order; found {placeholders:?}"
                        ),
                    );
                }
                if request.examples.len() != placeholders.len() {
                    problem(
                        "/examples",
                        format!(
                            "{} example value(s) for {} placeholder(s): one per placeholder",
                            request.examples.len(),
                            placeholders.len()
                        ),
                    );
                }
                if text.trim_start().starts_with("{{") || text.trim_end().ends_with("}}") {
                    problem(
                        &format!("{pointer}/text"),
                        "the body may not start or end with a placeholder".into(),
                    );
                }
            }
            "HEADER" | "FOOTER" => {
                if component["format"]
                    .as_str()
                    .is_none_or(|f| f.eq_ignore_ascii_case("TEXT"))
                    && (text.is_empty() || text.chars().count() > MAX_HEADER_FOOTER)
                {
                    problem(
                        &format!("{pointer}/text"),
                        format!("text must be 1 to {MAX_HEADER_FOOTER} characters"),
                    );
                }
            }
            "BUTTONS" => {
                let count = component["buttons"].as_array().map_or(0, Vec::len);
                if !(1..=10).contains(&count) {
                    problem(&format!("{pointer}/buttons"), "1 to 10 buttons".into());
                }
            }
            other => problem(
                &format!("{pointer}/type"),
                format!("unknown component type `{other}`"),
            ),
        }
    }
    problems
}

/// The `{{n}}` numbers in order of appearance.
fn placeholders(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        found.push(after[..end].trim().parse().unwrap_or(0));
        rest = &after[end + 2..];
    }
    found
}

/// The components as Meta wants them, with the examples in the body.
pub fn components_for_meta(request: &TemplateRequest) -> Value {
    Value::Array(
        request
            .components
            .iter()
            .map(|component| {
                let mut component = component.clone();
                let is_body = component["type"]
                    .as_str()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                    == Some("BODY");
                if is_body && !request.examples.is_empty() {
                    component["example"] = json!({ "body_text": [request.examples] });
                }
                component
            })
            .collect(),
    )
}

/// Why a template could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Local validation failed.
    #[error("the template is invalid")]
    Invalid(Vec<InputProblem>),
    /// A template of that name and language exists in the workspace.
    #[error("the workspace already has a template `{0}` in this language")]
    Exists(String),
    /// No such workspace, or one the caller may not see.
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(String),
    /// No such template in the workspace.
    #[error("template {0} not found")]
    NotFound(i64),
    /// Starting the run failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The workspace, checked visible to the caller.
async fn visible_workspace(
    pool: &PgPool,
    caller: &Caller,
    workspace_id: &WorkspaceId,
) -> Result<(), TemplateError> {
    workspaces::get(pool, caller, workspace_id)
        .await
        .map(drop)
        .map_err(|error| workspace_refused(error, workspace_id))
}

/// Like [`visible_workspace`], and the workspace takes new work (is not closed).
async fn open_workspace(
    pool: &PgPool,
    caller: &Caller,
    workspace_id: &WorkspaceId,
) -> Result<(), TemplateError> {
    workspaces::open_for_work(pool, caller, workspace_id)
        .await
        .map(drop)
        .map_err(|error| workspace_refused(error, workspace_id))
}

/// A template operation's error for a workspace that refused it.
fn workspace_refused(error: WorkspaceError, workspace_id: &WorkspaceId) -> TemplateError {
    match error {
        WorkspaceError::Database(error) => error.into(),
        WorkspaceError::Closed(_) => EngineError::WorkspaceClosed(workspace_id.clone()).into(),
        _ => TemplateError::WorkspaceNotFound(workspace_id.to_string()),
    }
}

/// Every template of a workspace the caller may see, with its current status.
pub async fn list(
    pool: &PgPool,
    caller: &Caller,
    workspace_id: &WorkspaceId,
) -> Result<Vec<TemplateRow>, TemplateError> {
    visible_workspace(pool, caller, workspace_id).await?;
    let mut conn = pool.acquire().await?;
    Ok(store::templates::list(&mut conn, workspace_id).await?)
}

/// One template of a workspace the caller may see, with every status it had.
pub async fn get(
    pool: &PgPool,
    caller: &Caller,
    workspace_id: &WorkspaceId,
    template_id: i64,
) -> Result<(TemplateRow, Vec<TemplateEventRow>), TemplateError> {
    visible_workspace(pool, caller, workspace_id).await?;
    let mut conn = pool.acquire().await?;
    let row = store::templates::get(&mut conn, template_id)
        .await?
        .filter(|row| row.workspace_id == *workspace_id)
        .ok_or(TemplateError::NotFound(template_id))?;
    let events = store::templates::events(&mut conn, row.id).await?;
    Ok((row, events))
}

/// Validates, stores a draft and starts its approval run.
#[tracing::instrument(name = "submit_template", skip_all, fields(workspace.id = %workspace_id))]
pub async fn submit(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &WorkspaceId,
    request: &TemplateRequest,
) -> Result<(TemplateRow, Run), TemplateError> {
    open_workspace(engine.pool(), caller, workspace_id).await?;
    let problems = validate(request);
    if !problems.is_empty() {
        return Err(TemplateError::Invalid(problems));
    }
    // Before anything is stored: a draft whose run cannot start would be left behind.
    if engine.catalog().latest(APPROVAL_WORKFLOW).is_none() {
        return Err(EngineError::UnknownWorkflow(APPROVAL_WORKFLOW.to_owned()).into());
    }
    let components = components_for_meta(request);
    let draft = store::templates::Draft {
        name: &request.name,
        language: &request.language,
        category: &request.category,
        components: &components,
        // Checked against the category's range (at most 30 days) by `validate`.
        message_send_ttl_seconds: request
            .message_send_ttl_seconds
            .map(|seconds| i32::try_from(seconds).unwrap_or(i32::MAX)),
    };
    let row =
        store::templates::insert_draft(&mut *engine.pool().acquire().await?, workspace_id, &draft)
            .await?
            .ok_or_else(|| TemplateError::Exists(request.name.clone()))?;
    let (run, _) = engine
        .start_run(StartRun {
            workflow: APPROVAL_WORKFLOW.to_owned(),
            input: json!({ "workspace_id": workspace_id, "template": row.id }),
            workspace_id: Some(workspace_id.clone()),
            idempotency_key: Some(IdempotencyKey::service(format!("template:{}", row.id))),
            initiator: caller.person.clone(),
        })
        .await?;
    let mut conn = engine.pool().acquire().await?;
    store::templates::set_run(&mut conn, row.id, run.id.uuid()).await?;
    Ok((row, run))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str, examples: &[&str]) -> TemplateRequest {
        TemplateRequest {
            name: "appointment_reminder".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            components: vec![json!({ "type": "BODY", "text": text })],
            examples: examples.iter().map(|e| (*e).to_owned()).collect(),
            message_send_ttl_seconds: None,
        }
    }

    #[test]
    fn a_good_template_has_no_problems() {
        assert!(validate(&request("Hi {{1}}, see you at {{2}}.", &["Ana", "10:00"])).is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut bad = request("Hi {{2}} and {{1}}", &["x"]);
        bad.name = "Appointment Reminder".into();
        bad.category = "PROMO".into();
        bad.language = "english".into();
        let pointers: Vec<String> = validate(&bad).into_iter().map(|p| p.pointer).collect();
        for expected in [
            "/name",
            "/language",
            "/category",
            "/components/0/text",
            "/examples",
        ] {
            assert!(
                pointers.iter().any(|p| p == expected),
                "{expected} missing in {pointers:?}"
            );
        }
    }

    #[test]
    fn examples_go_into_the_body() {
        let components = components_for_meta(&request("Hi {{1}}.", &["Ana"]));
        assert_eq!(components[0]["example"]["body_text"][0][0], "Ana");
    }
}
