//! The onboarding handlers, one per step of `workflows/onboarding.toml`. Each is
//! idempotent: a repeated attempt finds its work done (a token already stored, the app
//! already subscribed — Meta answers success again) and moves on.

use serde_json::json;
use uuid::Uuid;

use super::deps::WhatsAppDeps;
use super::store;
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerOutput, HandlerRegistry, register_handlers,
};
use crate::meta::client::CallError;

/// Scopes a business token must carry.
const REQUIRED_SCOPES: [&str; 2] = [
    "whatsapp_business_management",
    "whatsapp_business_messaging",
];

/// Registers `whatsapp.*` onboarding handlers and `workspace.activate`.
pub fn register(registry: &mut HandlerRegistry, deps: WhatsAppDeps) {
    register_handlers!(registry, deps, {
        "whatsapp.exchange_code" => exchange_code,
        "whatsapp.find_waba" => find_waba,
        "whatsapp.fetch_phone_numbers" => fetch_phone_numbers,
        "whatsapp.subscribe_app" => subscribe_app,
        "whatsapp.register_phone" => register_phone,
        "whatsapp.import_templates" => import_templates,
        "workspace.activate" => activate,
    });
}

type Outcome = Result<HandlerOutput, HandlerError>;

/// This run's onboarding (`input.onboarding_id`).
fn onboarding_id(call: &HandlerCall) -> Result<Uuid, HandlerError> {
    /// The part of an onboarding run's input that names its sealed code and PIN.
    #[derive(serde::Deserialize)]
    struct OnboardingInput {
        onboarding_id: Uuid,
    }
    Ok(call.input::<OnboardingInput>()?.onboarding_id)
}

/// The sealed code (none once exchanged) and PIN of this onboarding, opened.
async fn onboarding_secrets(
    deps: &WhatsAppDeps,
    call: &HandlerCall,
) -> Result<(Option<String>, String), HandlerError> {
    let id = onboarding_id(call)?;
    let mut conn = deps.pool.acquire().await?;
    let (code, pin) = store::workspaces::onboarding_secrets(&mut conn, id)
        .await?
        .ok_or_else(|| HandlerError::Fatal("the onboarding's code and PIN are gone".into()))?;
    let open = |sealed: &[u8]| {
        deps.secrets
            .open(sealed)
            .map_err(|error| HandlerError::Fatal(error.to_string()))
    };
    Ok((code.as_deref().map(open).transpose()?, open(&pin)?))
}

async fn exchange_code(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let onboarding = onboarding_id(&call)?;
    let mut conn = deps.pool.acquire().await?;
    let stored_by = store::workspaces::token_onboarding(&mut conn, &workspace).await?;
    if stored_by == Some(onboarding) {
        // An earlier attempt of this onboarding exchanged the code (a code works once) and
        // stopped before its result was recorded.
        return Ok(HandlerOutput::ok(json!({ "token_stored": true })));
    }
    drop(conn);
    let (code, _) = onboarding_secrets(deps, &call).await?;
    let code =
        code.ok_or_else(|| HandlerError::Fatal("the Embedded Signup code was used up".into()))?;
    let context = WhatsAppDeps::context(&call, &workspace);
    let token = match deps.graph.exchange_code(&context, &code).await {
        Ok(token) => token,
        Err(CallError::Graph(error)) if error.code == 100 => {
            return Err(HandlerError::Fatal(format!(
                "Meta refused the Embedded Signup code ({}): codes work once and for 30 \
                 seconds; repeat Embedded Signup and start onboarding again with the new code",
                error.message
            )));
        }
        Err(error) => return Err(deps.graph_failure(&workspace, error).await),
    };
    let sealed = deps.secrets.seal(&token.access_token);
    let mut conn = deps.pool.acquire().await?;
    if !store::workspaces::set_token(&mut conn, &workspace, &sealed, onboarding).await? {
        return Err(closed_meanwhile());
    }
    // A code works once: nothing needs it any more.
    store::workspaces::clear_onboarding_code(&mut conn, onboarding).await?;
    Ok(HandlerOutput::ok(json!({ "token_stored": true })))
}

async fn find_waba(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let token = deps.token(&workspace).await?;
    let context = WhatsAppDeps::context(&call, &workspace);
    let info = match deps.graph.debug_token(&context, &token).await {
        Ok(info) => info,
        Err(error) => return Err(deps.graph_failure(&workspace, error).await),
    };
    if !info.is_valid {
        let error = CallError::Graph(Box::new(crate::meta::GraphError::new(
            190,
            "the token is not valid",
        )));
        return Err(deps.graph_failure(&workspace, error).await);
    }
    let missing: Vec<&str> = REQUIRED_SCOPES
        .into_iter()
        .filter(|scope| !info.scopes.iter().any(|granted| granted == scope))
        .collect();
    if !missing.is_empty() {
        return Err(HandlerError::Fatal(format!(
            "the business did not grant {}; repeat Embedded Signup and accept every permission",
            missing.join(", ")
        )));
    }
    let granted: Vec<String> = info
        .granular_scopes
        .iter()
        .find(|scope| scope.scope == "whatsapp_business_management")
        .map(|scope| scope.target_ids.clone())
        .unwrap_or_default();
    let waba = match call.input_str("waba_id") {
        Some(asked) if granted.iter().any(|id| id == asked) => asked.to_owned(),
        Some(asked) => {
            return Err(HandlerError::Fatal(format!(
                "WABA {asked} was not shared with the app during Embedded Signup"
            )));
        }
        // Meta lists the most recently onboarded WABA first.
        None => granted
            .first()
            .cloned()
            .ok_or_else(|| HandlerError::Fatal("no WhatsApp Business Account was shared".into()))?,
    };
    let mut conn = deps.pool.acquire().await?;
    store::workspaces::set_waba(&mut conn, &workspace, &waba, call.input_str("business_id"))
        .await?;
    Ok(HandlerOutput::ok(json!({ "waba_id": waba })))
}

/// The workspace's WABA, recorded by `find_waba`.
async fn waba_of(deps: &WhatsAppDeps, workspace: &str) -> Result<String, HandlerError> {
    let mut conn = deps.pool.acquire().await?;
    store::workspaces::get(&mut conn, workspace)
        .await?
        .and_then(|row| row.waba_id)
        .ok_or_else(|| HandlerError::Fatal("the workspace has no WABA yet".into()))
}

async fn fetch_phone_numbers(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let token = deps.token(&workspace).await?;
    let waba = waba_of(deps, &workspace).await?;
    let context = WhatsAppDeps::context(&call, &workspace);
    let numbers = match deps.graph.phone_numbers(&context, &token, &waba).await {
        Ok(numbers) => numbers,
        Err(error) => return Err(deps.graph_failure(&workspace, error).await),
    };
    let chosen = match call.input_str("phone_number_id") {
        Some(asked) => numbers.iter().find(|number| number.id == asked),
        None => numbers.first(),
    }
    .ok_or_else(|| HandlerError::Fatal(format!("WABA {waba} has no such phone number")))?;
    let mut conn = deps.pool.acquire().await?;
    store::workspaces::set_phone(
        &mut conn,
        &workspace,
        &chosen.id,
        &chosen.display_phone_number,
    )
    .await?;
    Ok(HandlerOutput::ok(json!({
        "phone_number_id": chosen.id,
        "display_phone_number": chosen.display_phone_number,
    })))
}

async fn subscribe_app(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let token = deps.token(&workspace).await?;
    let waba = waba_of(deps, &workspace).await?;
    let context = WhatsAppDeps::context(&call, &workspace);
    match deps.graph.subscribe_app(&context, &token, &waba).await {
        Ok(()) => Ok(HandlerOutput::ok(json!({ "subscribed": true }))),
        Err(error) => Err(deps.graph_failure(&workspace, error).await),
    }
}

async fn register_phone(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let token = deps.token(&workspace).await?;
    let (_, pin) = onboarding_secrets(deps, &call).await?;
    let phone = {
        let mut conn = deps.pool.acquire().await?;
        store::workspaces::get(&mut conn, &workspace)
            .await?
            .and_then(|row| row.phone_number_id)
            .ok_or_else(|| HandlerError::Fatal("the workspace has no phone number yet".into()))?
    };
    let context = WhatsAppDeps::context(&call, &workspace);
    match deps
        .graph
        .register_phone(&context, &token, &phone, &pin)
        .await
    {
        Ok(()) => Ok(HandlerOutput::ok(json!({ "registered": true }))),
        Err(CallError::Graph(error)) if error.code == 133016 => Err(HandlerError::Fatal(format!(
            "Meta refused to register the number: more than 10 registration attempts in 72 \
             hours (133016). The number is blocked from registering for 72 hours; start \
             onboarding again after that cool-off ({})",
            error.message
        ))),
        Err(error) => Err(deps.graph_failure(&workspace, error).await),
    }
}

async fn import_templates(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let token = deps.token(&workspace).await?;
    let waba = waba_of(deps, &workspace).await?;
    let context = WhatsAppDeps::context(&call, &workspace);
    let templates = match deps
        .graph
        .list_templates(&context, &token, &waba, None)
        .await
    {
        Ok(templates) => templates,
        Err(error) => return Err(deps.graph_failure(&workspace, error).await),
    };
    let mut conn = deps.pool.acquire().await?;
    for template in &templates {
        store::workspaces::upsert_template(
            &mut conn,
            &workspace,
            template.name.as_deref().unwrap_or_default(),
            template.language.as_deref().unwrap_or_default(),
            template.category.as_deref().unwrap_or_default(),
            template.components.as_ref().unwrap_or(&json!([])),
            &template.id,
            &template.status,
        )
        .await?;
    }
    Ok(HandlerOutput::ok(json!({ "imported": templates.len() })))
}

async fn activate(deps: &WhatsAppDeps, call: HandlerCall) -> Outcome {
    let workspace = WhatsAppDeps::workspace_id(&call)?;
    let mut tx = deps.pool.begin().await?;
    if !store::workspaces::set_status(&mut tx, &workspace, "active", None).await? {
        return Err(closed_meanwhile());
    }
    store::workspaces::delete_onboarding_secrets(&mut tx, onboarding_id(&call)?).await?;
    tx.commit().await?;
    Ok(HandlerOutput::ok(json!({ "status": "active" })))
}

/// The failure of a step whose workspace was closed while the onboarding ran: a closed
/// workspace is never connected again by a run started before it closed.
fn closed_meanwhile() -> HandlerError {
    HandlerError::Fatal("the workspace was closed while it was being onboarded".into())
}
