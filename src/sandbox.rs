//! The Meta sandbox: an in-process stand-in for the Graph API endpoints the product uses
//! (reference: ../shared/reference/whatsapp-graph-api.md §A.8), on its own listener, the
//! default on a fresh install. Its bodies follow Meta's shapes, so a client written
//! against Meta's documentation works against it unchanged.
//!
//! Control endpoints stand in for what happens in Meta's browser flows and for faults:
//! `POST /sandbox/embedded-signup` answers what a finished Embedded Signup would, and
//! `POST /sandbox/faults` arms an error or a delay for the next calls of one operation.

pub mod control;
pub mod graph;
pub mod messages;
pub mod reach;
pub mod state;
pub mod templates;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use poem::{EndpointExt, Route, get, post};

pub use state::{Sandbox, SandboxSettings};

/// Every route of the sandbox.
pub fn routes(sandbox: Arc<Sandbox>) -> impl poem::Endpoint {
    Route::new()
        .at("/sandbox/embedded-signup", post(control::embedded_signup))
        .at("/sandbox/faults", post(control::arm_fault))
        .at("/sandbox/template-status", post(control::template_status))
        .at("/sandbox/inbound", post(control::inbound))
        .at("/sandbox/handsets/:wa_id", get(control::handset))
        .at(
            "/sandbox/handsets/:wa_id/connectivity",
            post(control::connectivity),
        )
        .at("/sandbox/numbers/:phone", get(control::number))
        .at("/sandbox/data-deletion", post(control::data_deletion))
        .at("/:version/oauth/access_token", get(graph::exchange_code))
        .at("/:version/debug_token", get(graph::debug_token))
        .at("/:version/:object/phone_numbers", get(graph::phone_numbers))
        .at(
            "/:version/:object/subscribed_apps",
            post(graph::subscribe_app)
                .get(graph::subscribed_apps)
                .delete(graph::unsubscribe_app),
        )
        .at("/:version/:object/register", post(graph::register))
        .at("/:version/:object/deregister", post(graph::deregister))
        .at("/:version/:object/messages", post(messages::send_message))
        .at(
            "/:version/:object/message_templates",
            post(templates::create_template)
                .get(templates::list_templates)
                .delete(templates::delete_templates),
        )
        .at("/:version/:object", get(templates::get_object))
        .data(sandbox)
}

/// Serves the sandbox on `acceptor` until `shutdown` resolves.
pub async fn serve(
    sandbox: Arc<Sandbox>,
    acceptor: poem::listener::TcpAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send + Clone + 'static,
) -> std::io::Result<()> {
    tokio::spawn(webhooks::run_announcer(sandbox.clone(), shutdown.clone()));
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(sandbox), shutdown, Some(Duration::from_secs(1)))
        .await
}
