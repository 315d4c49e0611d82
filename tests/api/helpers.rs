//! Test harness: each test gets its own database and its own service on port 0.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bazaarstreet::app::{Application, Roles};
use bazaarstreet::config::Settings;
use bazaarstreet::engine::Engine;
use bazaarstreet::security::Role;
use bazaarstreet::security::keys::{self, KeyRequest};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Server address of the PostgreSQL every test database lives on.
pub const SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Longest a test waits for a condition before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh database name.
pub fn fresh_database_url() -> String {
    format!("{SERVER_URL}/bz_test_{}", Uuid::now_v7().simple())
}

/// Writes definition files into a new temporary directory.
pub fn write_files(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(format!("{name}.toml")), text).expect("write definition");
    }
    dir
}

/// Settings for a test service over `database_url`.
pub fn test_settings(database_url: &str, workflows: &Path, jobs: &Path) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        database_pool_size: 6,
        listen: "127.0.0.1:0".parse().unwrap(),
        workflows_dir: workflows.to_owned(),
        jobs_dir: jobs.to_owned(),
        worker_concurrency: 10,
        worker_heartbeat: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(5),
        max_body_bytes: 64 * 1024,
        meta: bazaarstreet::config::MetaSettings {
            // Each test's own sandbox, on a free port.
            sandbox_listen: "127.0.0.1:0".parse().unwrap(),
            sandbox_review_delay: Duration::from_millis(300),
            ..Default::default()
        },
        ..Settings::default()
    }
}

/// A running service in this test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Its database.
    pub database_url: String,
    /// The engine, for tests that drive it directly.
    pub engine: Engine,
    /// HTTP client.
    pub client: reqwest::Client,
    /// `http://127.0.0.1:<port>` of this service's Meta sandbox, when it serves one.
    pub sandbox_address: Option<String>,
    /// Tokens of the keys this test created, by key name.
    tokens: Mutex<HashMap<String, String>>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    _dirs: Vec<TempDir>,
}

/// Starts a service with these workflow definitions on a fresh database.
pub async fn spawn_app(workflows: &[(&str, &str)]) -> TestApp {
    spawn_app_on(&fresh_database_url(), workflows, &[], Roles::All).await
}

/// Starts a service on `database_url` with these workflows and schedules.
pub async fn spawn_app_on(
    database_url: &str,
    workflows: &[(&str, &str)],
    jobs: &[(&str, &str)],
    roles: Roles,
) -> TestApp {
    spawn_app_adjusted(database_url, workflows, jobs, roles, |_| {}).await
}

/// Like [`spawn_app_on`], with the settings adjusted first.
pub async fn spawn_app_adjusted(
    database_url: &str,
    workflows: &[(&str, &str)],
    jobs: &[(&str, &str)],
    roles: Roles,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let workflow_dir = write_files(workflows);
    let jobs_dir = write_files(jobs);
    let mut settings = test_settings(database_url, workflow_dir.path(), jobs_dir.path());
    adjust(&mut settings);
    let app = Application::build(settings, roles)
        .await
        .expect("service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let engine = app.engine();
    let sandbox_address = app
        .sandbox_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        database_url: database_url.to_owned(),
        engine,
        client: reqwest::Client::new(),
        sandbox_address,
        tokens: Mutex::new(HashMap::new()),
        shutdown: Some(tx),
        handle: Some(handle),
        _dirs: vec![workflow_dir, jobs_dir],
    }
}

/// The key most requests are made with: an unscoped admin.
pub const TESTER: &str = "tester";

impl TestApp {
    /// Creates a key (stored directly, as `bazaarstreet keys create` does) and returns
    /// its token; later requests "as" `name` use it.
    pub async fn create_key(&self, name: &str, role: Role, workspace: Option<&str>) -> String {
        let request = KeyRequest {
            name: name.to_owned(),
            role,
            workspace_id: workspace.map(str::to_owned),
            person_id: None,
        };
        let (_, token) = keys::create(
            self.engine.pool(),
            &request,
            keys::Administrator::Operator("cli"),
        )
        .await
        .expect("key created");
        self.tokens
            .lock()
            .unwrap()
            .insert(name.to_owned(), token.clone());
        token
    }

    /// The one number `query` answers (a count), read straight from the database.
    pub async fn count(&self, query: &'static str) -> i64 {
        let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
        let count: Option<i64> = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        count.unwrap_or(0)
    }

    /// Creates workspaces (over the API, as the tester); a key or run can only name one
    /// that exists.
    pub async fn create_workspaces(&self, ids: &[&str]) {
        for id in ids {
            let (status, body) = self
                .post("/v1/workspaces", &json!({ "id": id, "name": id }))
                .await;
            assert_eq!(status, 201, "workspace {id}: {body}");
        }
    }

    /// Remembers the token of a key created over the API, so requests can be made "as" it.
    pub fn keep_token(&self, name: &str, token: &str) {
        self.tokens
            .lock()
            .unwrap()
            .insert(name.to_owned(), token.to_owned());
    }

    /// Takes over the keys `earlier` created (a service restarted on the same database).
    pub fn keep_keys_of(&self, earlier: &TestApp) {
        let known = earlier.tokens.lock().unwrap().clone();
        self.tokens.lock().unwrap().extend(known);
    }

    /// The token of key `name`; a key not created yet is created: `tester` as an admin,
    /// any other name as a compliance officer.
    pub async fn token(&self, name: &str) -> String {
        if let Some(token) = self.tokens.lock().unwrap().get(name) {
            return token.clone();
        }
        let role = if name == TESTER {
            Role::Admin
        } else {
            Role::ComplianceOfficer
        };
        self.create_key(name, role, None).await
    }

    /// POSTs JSON as the tester; returns status and body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(path, body, TESTER).await
    }

    /// POSTs JSON with the key named `actor`.
    pub async fn post_as(&self, path: &str, body: &Value, actor: &str) -> (u16, Value) {
        let token = self.token(actor).await;
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// GETs JSON as the tester.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, TESTER).await
    }

    /// GETs JSON with the key named `actor`.
    pub async fn get_as(&self, path: &str, actor: &str) -> (u16, Value) {
        let token = self.token(actor).await;
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// PUTs JSON with the key named `actor`.
    pub async fn put_as(&self, path: &str, body: &Value, actor: &str) -> (u16, Value) {
        let token = self.token(actor).await;
        let response = self
            .client
            .put(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// PATCHes JSON with the key named `actor`.
    pub async fn patch_as(&self, path: &str, body: &Value, actor: &str) -> (u16, Value) {
        let token = self.token(actor).await;
        let response = self
            .client
            .patch(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// DELETEs with the key named `actor`.
    pub async fn delete_as(&self, path: &str, actor: &str) -> (u16, Value) {
        let token = self.token(actor).await;
        let response = self
            .client
            .delete(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// Starts a run over HTTP and returns its id.
    pub async fn start(&self, workflow: &str, input: Value) -> String {
        let (status, body) = self
            .post(
                "/v1/runs",
                &serde_json::json!({ "workflow": workflow, "input": input }),
            )
            .await;
        assert_eq!(status, 201, "start failed: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the run satisfies `condition`; returns the run detail.
    pub async fn wait_for_run(
        &self,
        id: &str,
        what: &str,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get(&format!("/v1/runs/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if condition(&body) {
                return body;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("run {id} never reached: {what}; last seen {body:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the run has this status.
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        self.wait_for_run(id, status, |run| run["status"] == status)
            .await
    }

    /// Waits until the run is parked at `step`.
    pub async fn wait_at_step(&self, id: &str, step: &str) -> Value {
        self.wait_for_run(id, &format!("waiting at {step}"), |run| {
            run["status"] == "waiting" && run["current_step"] == step
        })
        .await
    }

    /// Stops the service and drops its database.
    pub async fn stop(mut self) {
        self.stop_service().await;
        drop_database(&self.database_url).await;
    }

    /// Stops the service, keeping the database.
    pub async fn stop_service(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

/// Status and JSON body (or the text, when it is not JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Drops a test database, disconnecting anything still attached.
pub async fn drop_database(database_url: &str) {
    let name = database_url.rsplit('/').next().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&format!("{SERVER_URL}/postgres"))
        .await
        .unwrap();
    let statement = format!("drop database if exists \"{name}\" with (force)");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await;
    pool.close().await;
}

/// Attempts recorded for a run's steps: (step_id, attempt, status).
/// The statuses of a run's step jobs in the apalis queue, oldest first.
pub async fn job_statuses(app: &TestApp, run_id: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let statuses = sqlx::query_scalar(
        "select status from apalis.jobs
         where convert_from(job, 'UTF8')::jsonb ->> 'run_id' = $1 order by id",
    )
    .bind(run_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    statuses
}

/// Each step visit of a run as (step id, status), in order.
pub fn step_statuses(run: &Value) -> Vec<(&str, &str)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["step_id"].as_str().unwrap(),
                step["status"].as_str().unwrap(),
            )
        })
        .collect()
}

pub fn attempts(run: &Value) -> Vec<(String, i64, String)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|step| {
            step["attempt_log"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |attempt| {
                    (
                        step["step_id"].as_str().unwrap().to_owned(),
                        attempt["attempt"].as_i64().unwrap(),
                        attempt["status"].as_str().unwrap().to_owned(),
                    )
                })
        })
        .collect()
}
