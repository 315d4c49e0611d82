//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; installed with apt-get on first use when missing, as `.ci/run`
//! does, so `cargo test` passes on a fresh machine): one `chromedriver` per test on a
//! free port, ended with the test.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// A browser session and the driver serving it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: tokio::process::Child,
}

/// Installs Debian's Chromium and its driver once, when `chromedriver` is missing.
fn ensure_installed() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let present = std::process::Command::new("chromedriver")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if present {
            return;
        }
        eprintln!("chromedriver is missing: apt-get install chromium chromium-driver");
        for args in [
            &["update", "-qq"][..],
            &["install", "-y", "-qq", "chromium", "chromium-driver"][..],
        ] {
            let status = std::process::Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .expect("apt-get (Debian) to install chromium and chromium-driver");
            assert!(status.success(), "apt-get {args:?} failed");
        }
    });
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium at a laptop's window size.
    pub async fn start() -> Browser {
        tokio::task::spawn_blocking(ensure_installed).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver; .ci/run installs it)");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,900"] }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            // Plain HTTP to the local driver: no TLS stack (and no crypto provider) needed.
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let connected = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match connected {
                Ok(client) => {
                    return Browser {
                        client,
                        _driver: driver,
                    };
                }
                Err(error) if tokio::time::Instant::now() > deadline => {
                    panic!("no WebDriver session: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Saves a screenshot of the page as `docs/console/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
