//! `/healthz` (the process answers) and `/readyz` (the database is reachable and migrated).

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::problem::Problem;
use crate::engine::Engine;

/// A health answer.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct HealthView {
    /// `ok`.
    pub status: String,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// Ready to serve.
    #[oai(status = 200)]
    Ready(Json<HealthView>),
    /// Not ready: the database is unreachable or not migrated.
    #[oai(status = 503, content_type = "application/problem+json")]
    NotReady(Json<Problem>),
}

/// Health endpoints.
pub struct HealthApi {
    /// The engine.
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// Answers while the process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<HealthView> {
        Json(HealthView {
            status: "ok".into(),
        })
    }

    /// Readiness
    ///
    /// 200 when the database is reachable and every migration is applied, 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> ReadyResponse {
        let problem = match crate::db::is_migrated(self.engine.pool()).await {
            Ok(true) => {
                return ReadyResponse::Ready(Json(HealthView {
                    status: "ok".into(),
                }));
            }
            Ok(false) => "the database is reachable but not migrated".to_owned(),
            Err(error) => {
                tracing::warn!(error = %error, "readiness check failed");
                "the database is unreachable".to_owned()
            }
        };
        ReadyResponse::NotReady(Json(Problem::new(
            poem::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            problem,
        )))
    }
}
