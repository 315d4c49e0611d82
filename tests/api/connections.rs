//! Connection bounds: half-sent requests are closed after the header timeout, and a flood
//! of them, even beyond the connection limit, does not keep `/readyz` or a real caller
//! from being answered.

use std::time::Duration;

use bazaarstreet::app::Roles;
use bazaarstreet::config::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{PATIENCE, TESTER, fresh_database_url, spawn_app_adjusted};

#[tokio::test(flavor = "multi_thread")]
async fn held_half_sent_requests_neither_stay_open_nor_starve_real_callers() {
    let app = spawn_app_adjusted(&fresh_database_url(), &[], &[], Roles::All, |settings| {
        settings.http = ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            max_connections: 100,
        };
    })
    .await;
    let token = app.token(TESTER).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    // Three times the connection limit, each with a request whose headers never end.
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut socket = TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        socket
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(socket);
    }
    // While they are held, readiness and an authenticated request are answered.
    for path in ["/readyz", "/v1/runs"] {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let response = client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path} unanswered under the flood: {error}"));
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    // Every held connection is closed by the server: evicted, or timed out.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    for socket in &mut held {
        let mut buffer = [0u8; 512];
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let read = tokio::time::timeout(left, socket.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(_)) | Ok(Err(_))),
            "a half-sent request was still open after the header timeout"
        );
    }
    // A kept-alive connection without a request is closed after the idle timeout.
    let mut idle = TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let mut buffer = [0u8; 16];
    let closed = tokio::time::timeout(PATIENCE, idle.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    app.stop().await;
}
