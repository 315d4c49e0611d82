//! RFC 9457 problem bodies: the one error shape every endpoint answers with.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::engine::EngineError;

/// Base of every problem `type`; each kind of problem has a stable suffix (the `…/` in
/// the response descriptions).
pub const PROBLEM_BASE: &str = "https://bazaarstreet.dev/problems/";

/// An RFC 9457 problem.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Problem {
    /// Stable identifier of the kind of problem.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// Individual problems, e.g. each input field that fails the schema.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ProblemItem>>,
    /// The approval-policy rule that refused a decision (`role`, `not_initiator`,
    /// `distinct_from`, `not_named`).
    #[oai(skip_serializing_if_is_none)]
    pub rule: Option<String>,
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        let mut problem = Problem::new(
            StatusCode::FORBIDDEN,
            "approval-policy",
            "Refused by the approval policy",
            "`dana` started this run and may not decide its step `review`",
        );
        problem.rule = Some("not_initiator".into());
        problem
    }
}

/// One located problem.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProblemItem {
    /// JSON pointer to the offending value.
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// A problem of `kind` with this status and detail.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
            rule: None,
        }
    }
}

/// Every error an operation can answer with.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "from_bad_request")]
pub enum ApiError {
    /// The request could not be read (malformed JSON, wrong types, bad parameters).
    /// `type`: `…/bad-request`.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No API key, or an unknown, revoked, malformed or not yet approved one. `type`: `…/unauthorized`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The key's role may not do this (`type`: `…/forbidden`), an approval-policy rule
    /// refuses the decision (`type`: `…/approval-policy`, with `rule`), or an admin would
    /// approve a key they made or that is theirs (`type`: `…/separation-of-duties`).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource, or one in a workspace the key may not see. `type`:
    /// `…/run-not-found`, `…/workflow-not-found`, `…/step-not-found`, `…/key-not-found`,
    /// `…/person-not-found`, `…/workspace-not-found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request contradicts the resource's current state (`type`: `…/conflict`,
    /// `…/workspace-closed`, `…/workspace-not-closed`, `…/workspace-exists`,
    /// `…/template-exists`).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the configured limit. `type`: `…/payload-too-large`.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json` (or the Content-Type header is missing).
    /// `type`: `…/unsupported-media-type`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The request is well-formed but its content is invalid (`type`: `…/invalid-input`
    /// with `errors[]`, `…/invalid-key`).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Something failed on our side; details are in the service log. `type`: `…/internal`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

impl ApiError {
    /// 400 with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )))
    }

    /// 403 with a detail.
    pub fn forbidden(kind: &str, detail: impl Into<String>) -> Self {
        Self::Forbidden(Json(Problem::new(
            StatusCode::FORBIDDEN,
            kind,
            "Forbidden",
            detail,
        )))
    }

    /// 404 with a detail.
    pub fn not_found(kind: &str, detail: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(
            StatusCode::NOT_FOUND,
            kind,
            "Not found",
            detail,
        )))
    }

    /// 409 with a detail.
    pub fn conflict(kind: &str, detail: impl Into<String>) -> Self {
        Self::Conflict(Json(Problem::new(
            StatusCode::CONFLICT,
            kind,
            "Conflict",
            detail,
        )))
    }

    /// 422 with a detail.
    pub fn unprocessable(kind: &str, detail: impl Into<String>) -> Self {
        Self::Unprocessable(Json(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
            "Unprocessable content",
            detail,
        )))
    }

    /// 422 listing every located problem in `errors[]` (and in `detail`).
    pub fn invalid(kind: &str, title: &str, problems: Vec<crate::engine::InputProblem>) -> Self {
        let detail = problems
            .iter()
            .map(|p| {
                let at = if p.pointer.is_empty() {
                    "/"
                } else {
                    &p.pointer
                };
                format!("{at}: {}", p.message)
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, kind, title, detail);
        problem.errors = Some(
            problems
                .into_iter()
                .map(|p| ProblemItem {
                    pointer: p.pointer,
                    message: p.message,
                })
                .collect(),
        );
        Self::Unprocessable(Json(problem))
    }

    /// An opaque 500; the cause is logged here, once.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::Internal(Json(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request failed on our side; it has been logged",
        )))
    }
}

fn from_bad_request(error: poem::Error) -> ApiError {
    match error.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(Json(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            error.to_string(),
        ))),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(Json(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("{error}; send the body as `application/json`"),
        ))),
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(Json(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            unauthorized_detail(&error),
        ))),
        status if status.is_server_error() => ApiError::internal(&error),
        _ => ApiError::bad_request(super::enum_hints::with_allowed_values(error.to_string())),
    }
}

/// poem's own message for a missing header is terse; say what is expected.
fn unauthorized_detail(error: &poem::Error) -> String {
    let text = error.to_string();
    if text.contains("unknown, revoked, malformed") {
        text
    } else {
        "send an API key as `Authorization: Bearer <token>`".to_owned()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::internal(&error)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::UnknownWorkflow(_) => {
                ApiError::not_found("workflow-not-found", error.to_string())
            }
            EngineError::RunNotFound(_) => ApiError::not_found("run-not-found", error.to_string()),
            EngineError::StepNotFound(_) => {
                ApiError::not_found("step-not-found", error.to_string())
            }
            EngineError::InvalidInput(problems) => ApiError::invalid(
                "invalid-input",
                "Input does not match the workflow's schema",
                problems,
            ),
            EngineError::Conflict(detail) => ApiError::conflict("conflict", detail),
            EngineError::WorkspaceNotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            EngineError::WorkspaceClosed(_) => {
                ApiError::conflict("workspace-closed", error.to_string())
            }
            EngineError::Refused(refusal) => {
                let mut problem = Problem::new(
                    StatusCode::FORBIDDEN,
                    "approval-policy",
                    "Refused by the approval policy",
                    refusal.detail,
                );
                problem.rule = Some(refusal.rule.to_owned());
                ApiError::Forbidden(Json(problem))
            }
            other => ApiError::internal(&other),
        }
    }
}

/// Turns any error poem raises outside an operation (unknown route, wrong method, body
/// too large) into a problem response.
pub fn problem_response(error: poem::Error) -> poem::Response {
    if error.is_from_response() {
        // An operation's own typed error: already a problem body.
        return error.into_response();
    }
    let status = error.status();
    let kind = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers-too-large",
        StatusCode::URI_TOO_LONG => "uri-too-long",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::BAD_REQUEST => "bad-request",
        status if status.is_server_error() => "internal",
        _ => "http-error",
    };
    let detail = if status.is_server_error() {
        tracing::error!(error = %error, "request failed");
        "the request failed on our side; it has been logged".to_owned()
    } else if status == StatusCode::UNAUTHORIZED {
        unauthorized_detail(&error)
    } else if status == StatusCode::BAD_REQUEST {
        super::enum_hints::with_allowed_values(error.to_string())
    } else {
        error.to_string()
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let body = Problem::new(status, kind, title, detail);
    let json = serde_json::json!({
        "type": body.kind, "title": body.title, "status": body.status, "detail": body.detail,
    });
    poem::Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(json.to_string())
}
