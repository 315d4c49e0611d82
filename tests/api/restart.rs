//! PostgreSQL restarted under a running service: it recovers without operator action.
//!
//! Restarting the shared server would disturb every other test, so this test runs its own
//! private PostgreSQL cluster (initdb into a temporary directory, on a free port).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bazaarstreet::app::Roles;
use serde_json::json;

use crate::helpers::spawn_app_on;

struct PrivateCluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivateCluster {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
            .expect("an initdb");
        let dir = tempfile::tempdir().unwrap();
        // The server refuses to run as root; the cluster belongs to the postgres user.
        run(Command::new("chown").arg("postgres").arg(dir.path()));
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            _dir: dir,
            data,
            bin,
            port,
        };
        cluster.ctl(&["start"]);
        cluster
    }

    fn ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.parent().unwrap().display()
        );
        run(as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "fast", "-o", &options, "-l"])
            .arg(self.data.parent().unwrap().join("log"))
            .args(action));
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn as_postgres(program: &std::path::Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn run(command: &mut Command) {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const NAP: &str = r#"
name = "nap"
version = 1
[[steps]]
id = "before"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "nap"
kind = "timer"
delay = "3s"
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_service_recovers_by_itself_when_postgres_restarts_under_it() {
    let cluster = PrivateCluster::start();
    let mut app = spawn_app_on(
        &cluster.url("bazaarstreet"),
        &[("nap", NAP)],
        &[],
        Roles::All,
    )
    .await;
    let before_restart = app.start("nap", json!({})).await;
    app.wait_at_step(&before_restart, "nap").await;

    cluster.ctl(&["restart"]);

    // The run parked before the restart resumes and finishes...
    let run = app.wait_for_status(&before_restart, "succeeded").await;
    assert_eq!(run["steps"].as_array().unwrap().len(), 3);
    // ...new runs start and finish, and the service reports ready.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let after_restart = loop {
        let (status, body) = app
            .post("/v1/runs", &json!({ "workflow": "nap", "input": {} }))
            .await;
        if status == 201 {
            break body["id"].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "starts keep failing: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    app.wait_for_status(&after_restart, "succeeded").await;
    assert_eq!(app.get("/readyz").await.0, 200);
    app.stop_service().await;
}
