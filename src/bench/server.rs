//! The full HTTP API on a free loopback port, for the measurements that go through HTTP.

use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api;
use crate::api::webhooks::WebhookConfig;
use crate::engine::Engine;
use crate::security::secret_box::SecretBox;

/// A running API.
pub struct RunningApi {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl RunningApi {
    /// Serves every route; webhooks are checked against `webhook_secret`.
    pub async fn start(
        engine: &Engine,
        webhook_secret: &str,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
            .ok_or("no port")?;
        let routes = api::routes(
            engine.clone(),
            SecretBox::development(),
            WebhookConfig {
                app_secret: webhook_secret.to_owned(),
                verify_token: "bench".into(),
            },
            1 << 20,
            vec![],
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(
            poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                routes,
                async move {
                    let _ = stopped.await;
                },
                Some(Duration::from_secs(1)),
            ),
        );
        Ok(Self {
            address: format!("http://127.0.0.1:{port}"),
            stop,
            handle,
        })
    }

    /// Stops serving.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
    }
}
