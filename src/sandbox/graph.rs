//! The sandbox's Graph endpoints, answering in Meta's shapes and with Meta's errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{Request, Response, handler};
use serde_json::{Value, json};

use super::state::{Sandbox, Template};
use crate::meta::GraphError;

type Params = Query<HashMap<String, String>>;

/// A Graph error answer, with the headers Meta sends.
fn error_response(error: GraphError, status: StatusCode) -> Response {
    let trace = hex::encode(rand::random::<[u8; 8]>());
    let mut error = error;
    error.fbtrace_id.get_or_insert(trace.clone());
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("x-fb-trace-id", trace)
        .header(
            "www-authenticate",
            format!(
                "OAuth \"Facebook Platform\" \"invalid_request\" \"{}\"",
                error.message.replace('"', "'")
            ),
        )
        .body(json!({ "error": error }).to_string())
}

fn ok(body: Value) -> Response {
    Response::builder()
        .content_type("application/json")
        .header("x-fb-trace-id", hex::encode(rand::random::<[u8; 8]>()))
        .body(body.to_string())
}

fn bad_version(version: &str) -> Option<Response> {
    let valid = version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
    (!valid).then(|| {
        error_response(
            GraphError::new(2500, format!("Unknown path components: /{version}")),
            StatusCode::BAD_REQUEST,
        )
    })
}

/// Applies a fault armed for `operation`: its delay, then its error, if any.
async fn fault(sandbox: &Sandbox, operation: &str) -> Option<Response> {
    let fault = sandbox.take_fault(operation)?;
    if !fault.delay.is_zero() {
        tokio::time::sleep(fault.delay).await;
    }
    let status = StatusCode::from_u16(fault.http_status).unwrap_or(StatusCode::BAD_REQUEST);
    fault.error.map(|error| error_response(error, status))
}

/// The bearer token, from the header or the `access_token` query parameter.
fn token(request: &Request, params: &HashMap<String, String>) -> Option<String> {
    request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| params.get("access_token").cloned())
}

fn invalid_token() -> Response {
    let mut error = GraphError::new(
        190,
        "Invalid OAuth access token - Cannot parse access token",
    );
    error.subcode = Some(463);
    error_response(error, StatusCode::UNAUTHORIZED)
}

fn unknown_object(id: &str) -> Response {
    let mut error = GraphError::new(
        100,
        format!(
            "Unsupported request. Object with ID '{id}' does not exist, cannot be loaded due to \
             missing permissions, or does not support this operation."
        ),
    );
    error.kind = "GraphMethodException".to_owned();
    error.subcode = Some(33);
    error_response(error, StatusCode::BAD_REQUEST)
}

/// Checks the version, faults and the token; yields the WABA the token grants.
async fn authorized(
    sandbox: &Sandbox,
    operation: &str,
    version: &str,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<String, Response> {
    if let Some(response) = bad_version(version) {
        return Err(response);
    }
    if let Some(response) = fault(sandbox, operation).await {
        return Err(response);
    }
    token(request, params)
        .and_then(|token| sandbox.waba_of(&token))
        .ok_or_else(invalid_token)
}

/// [`authorized`] for a call on `waba`: the token must grant that very WABA.
async fn authorized_waba(
    sandbox: &Sandbox,
    operation: &str,
    version: &str,
    request: &Request,
    params: &HashMap<String, String>,
    waba: &str,
) -> Result<(), Response> {
    let granted = authorized(sandbox, operation, version, request, params).await?;
    if granted == waba && sandbox.business(waba).is_some() {
        Ok(())
    } else {
        Err(unknown_object(waba))
    }
}

/// [`authorized`] for a call on a phone number: the business owning it, if the token
/// grants its WABA.
async fn authorized_phone(
    sandbox: &Sandbox,
    operation: &str,
    version: &str,
    request: &Request,
    params: &HashMap<String, String>,
    phone: &str,
) -> Result<super::state::Business, Response> {
    let granted = authorized(sandbox, operation, version, request, params).await?;
    sandbox
        .business_of_phone(phone)
        .filter(|business| business.waba_id == granted)
        .ok_or_else(|| unknown_object(phone))
}

/// `GET /{v}/oauth/access_token?client_id&client_secret&code`
#[handler]
pub async fn exchange_code(
    sandbox: Data<&Arc<Sandbox>>,
    Path(version): Path<String>,
    Query(params): Params,
) -> Response {
    if let Some(response) = bad_version(&version) {
        return response;
    }
    if let Some(response) = fault(&sandbox, "oauth.exchange_code").await {
        return response;
    }
    let app_ok = params.get("client_id") == Some(&sandbox.settings.app_id)
        && params.get("client_secret") == Some(&sandbox.settings.app_secret);
    if !app_ok {
        return error_response(
            GraphError::new(1, "Error validating client secret."),
            StatusCode::BAD_REQUEST,
        );
    }
    match sandbox.exchange(params.get("code").map(String::as_str).unwrap_or_default()) {
        Ok(token) => ok(json!({ "access_token": token, "token_type": "bearer" })),
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
    }
}

/// `GET /{v}/debug_token?input_token=…` with the app token `APPID|SECRET`.
#[handler]
pub async fn debug_token(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path(version): Path<String>,
    Query(params): Params,
) -> Response {
    if let Some(response) = bad_version(&version) {
        return response;
    }
    if let Some(response) = fault(&sandbox, "debug_token").await {
        return response;
    }
    let app_token = format!(
        "{}|{}",
        sandbox.settings.app_id, sandbox.settings.app_secret
    );
    if token(request, &params).as_deref() != Some(app_token.as_str()) {
        return invalid_token();
    }
    let input = params.get("input_token").cloned().unwrap_or_default();
    let Some(waba) = sandbox.waba_of(&input) else {
        return ok(
            json!({ "data": { "is_valid": false, "app_id": sandbox.settings.app_id,
            "error": { "code": 190, "message": "Invalid OAuth access token." } } }),
        );
    };
    let scopes = [
        "whatsapp_business_management",
        "whatsapp_business_messaging",
    ];
    ok(json!({ "data": {
        "app_id": sandbox.settings.app_id, "type": "SYSTEM_USER", "application": "Bazaarstreet",
        "data_access_expires_at": 0, "expires_at": 0, "is_valid": true,
        "issued_at": chrono::Utc::now().timestamp(), "scopes": scopes,
        "granular_scopes": scopes.iter().map(|scope| json!({ "scope": scope, "target_ids": [waba] })).collect::<Vec<_>>(),
        "user_id": "1000000000001",
    }}))
}

/// `GET /{v}/{waba}/phone_numbers`
#[handler]
pub async fn phone_numbers(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if let Err(response) = authorized_waba(
        &sandbox,
        "waba.phone_numbers",
        &version,
        request,
        &params,
        &waba,
    )
    .await
    {
        return response;
    }
    match sandbox.business(&waba) {
        None => unknown_object(&waba),
        Some(business) => ok(json!({
            "data": [{
                "verified_name": "Sandbox Business", "display_phone_number": business.display_phone_number,
                "id": business.phone_number_id, "quality_rating": "GREEN",
                "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API",
                "throughput": { "level": "STANDARD" }, "status": "PENDING",
            }],
            "paging": { "cursors": { "before": "QVFI", "after": "QVFI" } },
        })),
    }
}

/// `POST /{v}/{waba}/subscribed_apps`
#[handler]
pub async fn subscribe_app(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if let Err(response) = authorized_waba(
        &sandbox,
        "waba.subscribe_app",
        &version,
        request,
        &params,
        &waba,
    )
    .await
    {
        return response;
    }
    sandbox.subscribe(&waba);
    ok(json!({ "success": true }))
}

/// `GET /{v}/{waba}/subscribed_apps`
#[handler]
pub async fn subscribed_apps(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if let Err(response) = authorized_waba(
        &sandbox,
        "waba.subscribed_apps",
        &version,
        request,
        &params,
        &waba,
    )
    .await
    {
        return response;
    }
    let data = if sandbox.is_subscribed(&waba) {
        json!([{ "whatsapp_business_api_data": { "id": sandbox.settings.app_id, "name": "Bazaarstreet", "link": "https://bazaarstreet.dev" } }])
    } else {
        json!([])
    };
    ok(json!({ "data": data }))
}

/// `POST /{v}/{phone}/register {"messaging_product":"whatsapp","pin":"123456"}`
#[handler]
pub async fn register(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, phone)): Path<(String, String)>,
    Query(params): Params,
    body: Option<Json<Value>>,
) -> Response {
    let business = match authorized_phone(
        &sandbox,
        "phone.register",
        &version,
        request,
        &params,
        &phone,
    )
    .await
    {
        Ok(business) => business,
        Err(response) => return response,
    };
    let pin = body
        .as_ref()
        .and_then(|Json(body)| body["pin"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return error_response(
            GraphError::new(100, "(#100) Invalid parameter: pin must be 6 digits"),
            StatusCode::BAD_REQUEST,
        );
    }
    match sandbox.register(&business.phone_number_id) {
        Ok(()) => ok(json!({ "success": true })),
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
    }
}

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
    };
    match sandbox.create_template(template) {
        Ok(created) => {
            ok(json!({ "id": created.id, "status": created.status, "category": created.category }))
        }
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
    }
}

fn template_json(template: &Template) -> Value {
    json!({
        "id": template.id, "name": template.name, "language": template.language,
        "status": template.status, "category": template.category,
        "components": template.components, "parameter_format": "positional",
    })
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

/// `POST /{v}/{phone}/messages`: template messages. Accepted messages get status webhooks
/// (`sent` and `delivered` batched in one delivery, then `read`); faults
/// `webhook.status.skip_delivered`, `webhook.status.duplicate` and
/// `webhook.status.reorder` make them arrive the way Meta sometimes sends them.
#[handler]
pub async fn send_message(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, phone)): Path<(String, String)>,
    Query(params): Params,
    body: Option<Json<Value>>,
) -> Response {
    let business = match authorized_phone(
        &sandbox,
        "message.send",
        &version,
        request,
        &params,
        &phone,
    )
    .await
    {
        Ok(business) => business,
        Err(response) => return response,
    };
    let body = body.map(|Json(body)| body).unwrap_or_default();
    let to = body["to"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('+')
        .to_owned();
    let name = body["template"]["name"].as_str().unwrap_or_default();
    let language = body["template"]["language"]["code"]
        .as_str()
        .unwrap_or_default();
    if body["messaging_product"] != "whatsapp" || to.is_empty() || body["type"] != "template" {
        return error_response(
            GraphError::new(
                100,
                "(#100) Invalid parameter: messaging_product, to and a template are required",
            ),
            StatusCode::BAD_REQUEST,
        );
    }
    match sandbox.send_message(&phone, &business.waba_id, &to, name, language) {
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
        Ok(wamid) => {
            super::webhooks::queue_statuses(
                &sandbox,
                &business,
                &wamid,
                &to,
                body["biz_opaque_callback_data"].as_str(),
            );
            ok(json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": body["to"], "wa_id": to }],
                "messages": [{ "id": wamid, "message_status": "accepted" }],
            }))
        }
    }
}
