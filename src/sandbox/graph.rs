//! The sandbox's Graph endpoints for onboarding (token, WABA, phone number), and the
//! helpers every Graph endpoint shares: Meta's error shape, version, faults, tokens.

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{Request, Response, handler};
use serde_json::{Value, json};

use super::state::Sandbox;
use crate::meta::GraphError;

/// Query parameters of a Graph call.
pub(super) type Params = Query<HashMap<String, String>>;

/// A Graph error answer, with the headers Meta sends.
pub(super) fn error_response(error: GraphError, status: StatusCode) -> Response {
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

pub(super) fn ok(body: Value) -> Response {
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
pub(super) async fn fault(sandbox: &Sandbox, operation: &str) -> Option<Response> {
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

pub(super) fn unknown_object(id: &str) -> Response {
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
pub(super) async fn authorized(
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
pub(super) async fn authorized_waba(
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
pub(super) async fn authorized_phone(
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

/// `DELETE /{v}/{waba}/subscribed_apps`: the app stops receiving the WABA's webhooks.
#[handler]
pub async fn unsubscribe_app(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, waba)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    if let Err(response) = authorized_waba(
        &sandbox,
        "waba.unsubscribe_app",
        &version,
        request,
        &params,
        &waba,
    )
    .await
    {
        return response;
    }
    sandbox.unsubscribe(&waba);
    ok(json!({ "success": true }))
}

/// `POST /{v}/{phone}/deregister`: the number leaves the Cloud API.
#[handler]
pub async fn deregister(
    sandbox: Data<&Arc<Sandbox>>,
    request: &Request,
    Path((version, phone)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    let business = match authorized_phone(
        &sandbox,
        "phone.deregister",
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
    match sandbox.deregister(&business.phone_number_id) {
        Ok(()) => ok(json!({ "success": true })),
        Err(error) => error_response(error, StatusCode::BAD_REQUEST),
    }
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
