//! The sandbox's `message_templates` endpoints: create, list, read, delete, with Meta's
//! review state machine behind them (`state.rs`).

use std::time::Instant;

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{Request, Response, handler};
use serde_json::{Value, json};

use super::graph::authorized;
use super::graph::{Params, authorized_waba, error_response, ok, unknown_object};
use super::state::{Sandbox, Template};
use crate::meta::GraphError;

/// `POST /{v}/{waba}/message_templates`
#[handler]
pub async fn create_template(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
    body: Option<Json<Value>>,
) -> Response {
    if let Err(response) = authorized_waba(
        &sandbox,
        "template.create",
        &version,
        request,
        &params,
        &waba,
    )
    .await
    {
        return response;
    }
    let body = body.map(|Json(body)| body).unwrap_or_default();
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let valid_name = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let category = body["category"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let language = body["language"].as_str().unwrap_or_default().to_owned();
    if !valid_name
        || language.is_empty()
        || !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str())
    {
        return error_response(
            GraphError::new(100, "(#100) Invalid parameter"),
            StatusCode::BAD_REQUEST,
        );
    }
    // Meta's ranges: authentication 30–900 s, utility 30–43200 s, marketing 43200 s to
    // 30 days; -1 is the 30-day default.
    let ttl_seconds = match body["message_send_ttl_seconds"].as_i64() {
        None | Some(-1) => None,
        Some(seconds) => {
            let (low, high) = crate::whatsapp::templates::ttl_range(&category);
            if !(low..=high).contains(&seconds) {
                return error_response(
                    GraphError::new(
                        100,
                        format!(
                            "(#100) Invalid parameter: message_send_ttl_seconds must be between {low} and {high} for {category}"
                        ),
                    ),
                    StatusCode::BAD_REQUEST,
                );
            }
            Some(seconds as u64)
        }
    };
    let template = Template {
        id: String::new(),
        waba_id: waba,
        name,
        language,
        category,
        components: body["components"].clone(),
        status: String::new(),
        review_at: Instant::now(),
        announced: false,
        ttl_seconds,
    };
    match sandbox.create_template(template) {
        Ok(created) => {
            ok(json!({ "id": created.id, "status": created.status, "category": created.category }))
        }
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
    }
}

fn template_json(template: &Template) -> Value {
    let mut json = json!({
        "id": template.id, "name": template.name, "language": template.language,
        "status": template.status, "category": template.category,
        "components": template.components, "parameter_format": "positional",
    });
    if let Some(seconds) = template.ttl_seconds {
        json["message_send_ttl_seconds"] = json!(seconds);
    }
    json
}

/// `DELETE /{v}/{waba}/message_templates?name=…[&hsm_id=…]`
#[handler]
pub async fn delete_templates(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if let Err(response) = authorized_waba(
        &sandbox,
        "template.delete",
        &version,
        request,
        &params,
        &waba,
    )
    .await
    {
        return response;
    }
    let Some(name) = params.get("name") else {
        return error_response(
            GraphError::new(100, "(#100) The parameter name is required"),
            StatusCode::BAD_REQUEST,
        );
    };
    match sandbox.delete_templates(&waba, name, params.get("hsm_id").map(String::as_str)) {
        Ok(0) => error_response(
            GraphError::new(100, format!("(#100) Message template \"{name}\" not found")),
            StatusCode::BAD_REQUEST,
        ),
        Ok(_) => ok(json!({ "success": true })),
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
    }
}

/// `GET /{v}/{waba}/message_templates[?name]`
#[handler]
pub async fn list_templates(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if let Err(response) =
        authorized_waba(&sandbox, "template.list", &version, request, &params, &waba).await
    {
        return response;
    }
    let data: Vec<Value> = sandbox
        .templates(&waba)
        .iter()
        .filter(|t| params.get("name").is_none_or(|name| &t.name == name))
        .map(template_json)
        .collect();
    ok(json!({ "data": data, "paging": { "cursors": { "before": "MAZDZD", "after": "MjQZD" } } }))
}

/// `GET /{v}/{id}`: a template (the only object the product reads by id).
#[handler]
pub async fn get_object(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, id)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    let granted = match authorized(&sandbox, "template.status", &version, request, &params).await {
        Ok(granted) => granted,
        Err(response) => return response,
    };
    match sandbox.template(&id).filter(|t| t.waba_id == granted) {
        Some(template) => ok(template_json(&template)),
        None => unknown_object(&id),
    }
}
