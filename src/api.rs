//! The HTTP API (poem + poem-openapi): one file per resource under `api/`, errors as
//! RFC 9457 problem bodies, the OpenAPI document generated from the code.

pub mod appointment_views;
pub mod appointments;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod authority_bodies;
pub mod authority_requests;
pub mod authority_views;
pub mod body_limit;
pub mod data_map;
pub mod enum_hints;
pub mod examples;
pub mod health;
pub mod keys;
pub mod legal_holds;
pub mod meta_deletion;
pub mod metrics;
pub mod nul_guard;
pub mod people;
pub mod privacy_bodies;
pub mod privacy_packages;
pub mod privacy_requests;
pub mod privacy_views;
pub mod problem;
pub mod request_limits;
pub mod retention;
pub mod runs;
pub mod server;
pub mod templates;
pub mod views;
pub mod webhooks;
pub mod workflows;
pub mod workspaces;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::engine::Engine;
use crate::security::secret_box::SecretBox;

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Workflow runs: start, inspect, cancel, events, approvals.
    Runs,
    /// Approval steps waiting for the caller's decision.
    Approvals,
    /// Workflow definitions.
    Workflows,
    /// Businesses and their WhatsApp connection.
    Workspaces,
    /// API keys (admins).
    Keys,
    /// The hash-chained audit ledger (auditors and admins).
    Audit,
    /// What is stored, for how long, and what erasure does.
    DataLifecycle,
    /// Deletion, access and disconnect requests about businesses and their customers.
    Privacy,
    /// Requests from public authorities: review, narrowing, disclosure, notices,
    /// transparency.
    Authority,
    /// A business's customers and their consent, appointments and their WhatsApp
    /// reminders.
    Appointments,
    /// Liveness and readiness.
    Health,
}

type Apis = (
    runs::RunsApi,
    approvals::ApprovalsApi,
    workflows::WorkflowsApi,
    workspaces::WorkspacesApi,
    templates::TemplatesApi,
    keys::KeysApi,
    people::PeopleApi,
    audit::AuditApi,
    data_map::DataMapApi,
    legal_holds::LegalHoldsApi,
    retention::RetentionApi,
    privacy_requests::PrivacyRequestsApi,
    authority_requests::AuthorityRequestsApi,
    appointments::AppointmentsApi,
    health::HealthApi,
);

/// The OpenAPI service for these resources.
pub fn openapi_service(engine: Engine, secrets: SecretBox) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            runs::RunsApi {
                engine: engine.clone(),
            },
            approvals::ApprovalsApi {
                engine: engine.clone(),
            },
            workflows::WorkflowsApi {
                engine: engine.clone(),
            },
            workspaces::WorkspacesApi {
                engine: engine.clone(),
                secrets: secrets.clone(),
            },
            templates::TemplatesApi {
                engine: engine.clone(),
            },
            keys::KeysApi {
                engine: engine.clone(),
            },
            people::PeopleApi {
                engine: engine.clone(),
            },
            audit::AuditApi {
                engine: engine.clone(),
            },
            data_map::DataMapApi,
            legal_holds::LegalHoldsApi {
                engine: engine.clone(),
            },
            retention::RetentionApi {
                engine: engine.clone(),
            },
            privacy_requests::PrivacyRequestsApi {
                engine: engine.clone(),
                secrets,
            },
            authority_requests::AuthorityRequestsApi {
                engine: engine.clone(),
            },
            appointments::AppointmentsApi {
                engine: engine.clone(),
            },
            health::HealthApi { engine },
        ),
        "Bazaarstreet Workflows",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Durable workflows behind a WhatsApp Business back office: start runs, inspect \
         their step timelines, post events and decide approval steps.",
    )
}

/// The OpenAPI document as JSON, exactly as served at `/openapi.json`.
pub fn openapi_json() -> String {
    let pool = sqlx::PgPool::connect_lazy("postgres://localhost/unused").expect("lazy pool");
    let catalog = crate::engine::definitions::catalog::Catalog::empty(
        crate::engine::handlers::HandlerRegistry::default(),
    );
    openapi_service(
        Engine::new(pool, std::sync::Arc::new(catalog)),
        SecretBox::development(),
    )
    .spec()
}

/// Every route: the API, its document, Swagger UI, with size limits and problem errors.
pub fn routes(
    engine: Engine,
    secrets: SecretBox,
    webhook: webhooks::WebhookConfig,
    max_body_bytes: usize,
    open_paths: Vec<String>,
) -> impl Endpoint {
    let open_paths = std::sync::Arc::new(open_paths);
    let service = openapi_service(engine.clone(), secrets.clone());
    let spec = service.spec_endpoint();
    let ui = service.swagger_ui();
    Route::new()
        .nest("/", service)
        .at("/openapi.json", spec)
        .at("/metrics", metrics::metrics)
        .at(
            "/webhooks/whatsapp",
            poem::get(webhooks::verify).post(webhooks::receive),
        )
        .at(
            "/privacy/packages/:token",
            poem::get(privacy_packages::fetch),
        )
        .at("/meta/data-deletion", poem::post(meta_deletion::callback))
        .at(
            "/privacy/deletion-status/:code",
            poem::get(meta_deletion::status_page),
        )
        .nest("/docs", ui)
        .nest("/console", crate::console::routes())
        .around(nul_guard::refuse_nul)
        .around(request_limits::limit_request)
        .around(move |endpoint, request| {
            auth::guard_operational(endpoint, request, open_paths.clone())
        })
        .data(engine)
        .data(secrets)
        .data(webhook)
        .around(move |endpoint, request| body_limit::limit_body(endpoint, request, max_body_bytes))
        .catch_all_error(|error| async move { problem::problem_response(error) })
        .around(metrics::count_requests)
}
