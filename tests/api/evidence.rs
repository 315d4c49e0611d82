//! Evidence for the security claims of docs/SECURITY.md, checked from outside the code
//! that makes them: known answers computed independently of this crate (RFC 4231's
//! HMAC-SHA256 vector; ledger hashes computed with Python's hashlib over the documented
//! canonical form), the first `serve` printing its admin token to the terminal and never
//! to the log, a full scenario's log holding none of the secrets it handled, several
//! processes chaining the ledger at once without forking it, refusals changing nothing,
//! and a rejection inside a quorum.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazaarstreet::meta::signature::signature_valid;
use bazaarstreet::security::Role;
use bazaarstreet::security::audit::{self, AuditEntry};
use serde_json::{Value, json};

use crate::fixtures::QUORUM_OF_TWO;
use crate::helpers::{PATIENCE, drop_database, fresh_database_url, spawn_app};

#[test]
fn webhook_signatures_match_rfc_4231() {
    // RFC 4231, test case 2.
    let body = b"what do ya want for nothing?";
    let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    assert!(signature_valid("Jefe", body, Some(expected)));
    assert!(!signature_valid(
        "Jefe",
        b"what do ya want for nothing!",
        Some(expected)
    ));
    assert!(!signature_valid("jefe", body, Some(expected)));
}

#[tokio::test(flavor = "multi_thread")]
async fn ledger_hashes_are_the_documented_sha_256_chain() {
    let url = fresh_database_url();
    bazaarstreet::db::ensure_database(&url).await.unwrap();
    let pool = bazaarstreet::db::connect(&url, 2).await.unwrap();
    bazaarstreet::db::migrate(&pool).await.unwrap();
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let entries = [
        AuditEntry {
            at: at("2026-01-02T03:04:05.123456Z"),
            actor: "alice".into(),
            action: "run.started".into(),
            subject: "run:1".into(),
            workspace_id: Some("ws_a".into()),
            data: json!({ "b": 1, "a": "x", "n": { "z": null, "y": [1, "<"] } }),
        },
        AuditEntry {
            at: at("2026-01-02T03:04:06Z"),
            actor: "bootstrap".into(),
            action: "key.created".into(),
            subject: "key:k".into(),
            workspace_id: None,
            data: json!({}),
        },
    ];
    // Canonical form: keys sorted at every depth, no whitespace, `at` with microseconds.
    assert_eq!(
        String::from_utf8(entries[0].canonical()).unwrap(),
        r#"{"action":"run.started","actor":"alice","at":"2026-01-02T03:04:05.123456Z","data":{"a":"x","b":1,"n":{"y":[1,"<"],"z":null}},"subject":"run:1","workspace_id":"ws_a"}"#
    );
    let mut tx = pool.begin().await.unwrap();
    audit::append(&mut tx, &entries).await.unwrap();
    tx.commit().await.unwrap();
    audit::chain_pending(&pool).await.unwrap();
    let hashes: Vec<String> =
        sqlx::query_scalar("select encode(hash, 'hex') from audit_chain order by seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    // Link format 2: hashlib.sha256(prev + hashlib.sha256(canonical).digest()), prev of
    // the first = 32 zero bytes.
    assert_eq!(
        hashes,
        [
            "5ac594243373c3001ce7d7b0f65db1d79c02da5f6f135a9655554eddcc3b7d58",
            "c8baf66c356d4b86e1ce9ff35cbc6b02f5495d71a4a73114424d3478beff84a1",
        ]
    );
    // Format 1, as links written before format 2 stay: hashlib.sha256(prev + canonical).
    assert_eq!(
        hex::encode(audit::link_hash(
            &audit::GENESIS_HASH,
            &entries[0].canonical()
        )),
        "ea92d51b4362a2a6cc1320f823efe23c68aa7a5544278c2df35a246bb366ac74"
    );
    pool.close().await;
    drop_database(&url).await;
}

/// A `bazaarstreet serve` child process with its terminal output and its log kept.
struct Served {
    child: Child,
    address: String,
    sandbox: String,
    stdout: Arc<Mutex<String>>,
    log: Arc<Mutex<String>>,
    /// The threads copying the two pipes; they end when the process has closed them.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start(database_url: &str, workflows: &std::path::Path, app_secret: &str) -> Self {
        let mut child = crate::crash::process("serve", database_url, workflows)
            .env("BAZAARSTREET_LISTEN", "127.0.0.1:0")
            .env("BAZAARSTREET_META_SANDBOX_LISTEN", "127.0.0.1:0")
            .env("BAZAARSTREET_META_APP_SECRET", app_secret)
            .env("BAZAARSTREET_META_SANDBOX_REVIEW_DELAY", "200ms")
            .env("BAZAARSTREET_LOG_FORMAT", "json")
            // As much as the service ever logs.
            .env("BAZAARSTREET_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let log = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let kept = stdout.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let (ports, found) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        let kept = log.clone();
        let log_reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && let (Some(message), Some(port)) =
                        (event["message"].as_str(), event["port"].as_u64())
                {
                    let _ = ports.send((message.starts_with("API"), port));
                }
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let (mut api, mut sandbox) = (None, None);
        while api.is_none() || sandbox.is_none() {
            let (is_api, port) = found
                .recv_timeout(Duration::from_secs(60))
                .expect("serve logged its ports");
            if is_api {
                api = Some(port);
            } else {
                sandbox = Some(port);
            }
        }
        Self {
            child,
            address: format!("http://127.0.0.1:{}", api.unwrap()),
            sandbox: format!("http://127.0.0.1:{}", sandbox.unwrap()),
            stdout,
            log,
            readers: vec![stdout_reader, log_reader],
        }
    }

    /// The admin token the first start printed, once it has.
    async fn printed_token(&self) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.stdout.lock().unwrap().clone();
            if let Some(token) = text
                .split_whitespace()
                .find(|word| word.starts_with("bzs_"))
            {
                return Some(token.to_owned());
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let readers = std::mem::take(&mut self.readers);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = self.child.wait();
            // Every line the process wrote, read to the end of both pipes.
            for reader in readers {
                let _ = reader.join();
            }
        })
        .await;
        let stdout = self.stdout.lock().unwrap().clone();
        let log = self.log.lock().unwrap().clone();
        (stdout, log)
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn until_run(client: &reqwest::Client, address: &str, token: &str, run: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, view) = call(
            client,
            reqwest::Method::GET,
            &format!("{address}/v1/runs/{run}"),
            token,
            None,
        )
        .await;
        if view["status"] == status {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_serve_prints_its_admin_token_and_no_log_line_holds_a_secret() {
    let database_url = fresh_database_url();
    let workflows = tempfile::tempdir().unwrap();
    for name in ["onboarding", "template_approval"] {
        std::fs::copy(
            format!("workflows/{name}.toml"),
            workflows.path().join(format!("{name}.toml")),
        )
        .unwrap();
    }
    let app_secret = "evidence-app-secret-6f1d";
    let served = Served::start(&database_url, workflows.path(), app_secret);
    let admin = served
        .printed_token()
        .await
        .expect("the first start printed a token");
    let client = reqwest::Client::new();
    let address = served.address.clone();
    let url = |path: &str| format!("{address}{path}");
    let (status, _) = call(
        &client,
        reqwest::Method::GET,
        &url("/v1/keys"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "the printed token is an admin's");

    // A full scenario: a key, a workspace onboarded with a code and a PIN, a template.
    let (_, key) = call(
        &client,
        reqwest::Method::POST,
        &url("/v1/keys"),
        &admin,
        Some(json!({ "name": "crm", "role": "integrator" })),
    )
    .await;
    let integrator = key["token"].as_str().unwrap().to_owned();
    call(
        &client,
        reqwest::Method::POST,
        &url("/v1/workspaces"),
        &integrator,
        Some(json!({ "name": "Evidence", "id": "ws_evidence" })),
    )
    .await;
    let signup: Value = client
        .post(format!("{}/sandbox/embedded-signup", served.sandbox))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = signup["code"].as_str().unwrap().to_owned();
    let pin = "914372";
    let (status, run) = call(
        &client,
        reqwest::Method::POST,
        &url("/v1/workspaces/ws_evidence/onboarding"),
        &integrator,
        Some(
            json!({ "code": code, "pin": pin, "waba_id": signup["waba_id"],
                     "phone_number_id": signup["phone_number_id"] }),
        ),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    until_run(
        &client,
        &address,
        &integrator,
        run["id"].as_str().unwrap(),
        "succeeded",
    )
    .await;
    let (status, template) = call(
        &client,
        reqwest::Method::POST,
        &url("/v1/workspaces/ws_evidence/templates"),
        &integrator,
        Some(json!({
            "name": "evidence_note", "language": "en_US", "category": "UTILITY",
            "components": [{ "type": "BODY", "text": "Hi {{1}}." }], "examples": ["Ana"]
        })),
    )
    .await;
    assert_eq!(status, 201, "{template}");
    until_run(
        &client,
        &address,
        &integrator,
        template["run_id"].as_str().unwrap(),
        "succeeded",
    )
    .await;
    let (_, ledger) = call(
        &client,
        reqwest::Method::GET,
        &url("/v1/audit?limit=500"),
        &admin,
        None,
    )
    .await;
    let (stdout, log) = served.stop().await;

    assert!(stdout.contains(&admin), "the token went to the terminal");
    assert!(log.lines().count() > 20, "the log was captured:\n{log}");
    let ledger = ledger.to_string();
    for (what, secret) in [
        ("the admin token", admin.as_str()),
        ("an integrator token", integrator.as_str()),
        ("the Embedded Signup code", code.as_str()),
        ("the PIN", pin),
        ("Meta's access token", "EAAG"),
        ("the app secret", app_secret),
    ] {
        assert!(!log.contains(secret), "{what} is in the log");
        assert!(!ledger.contains(secret), "{what} is in the audit ledger");
    }

    // The next start finds a key and prints none.
    let again = Served::start(&database_url, workflows.path(), app_secret);
    assert_eq!(again.printed_token().await, None);
    again.stop().await;
    drop_database(&database_url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn several_processes_chaining_at_once_never_fork_the_ledger() {
    let database_url = fresh_database_url();
    let workflows = tempfile::tempdir().unwrap();
    let first = Served::start(&database_url, workflows.path(), "s");
    let admin = first
        .printed_token()
        .await
        .expect("the first start printed a token");
    let mut servers = vec![first];
    for _ in 0..2 {
        servers.push(Served::start(&database_url, workflows.path(), "s"));
    }
    // Entries written through every process at once; each chains every 200 ms.
    let mut writers = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        let address = server.address.clone();
        let admin = admin.clone();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for k in 0..30 {
                let (status, _) = call(
                    &client,
                    reqwest::Method::POST,
                    &format!("{address}/v1/keys"),
                    &admin,
                    Some(json!({ "name": format!("w{n}-{k}"), "role": "auditor" })),
                )
                .await;
                assert_eq!(status, 201);
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let client = reqwest::Client::new();
    let (_, verify) = call(
        &client,
        reqwest::Method::GET,
        &format!("{}/v1/audit/verify", servers[0].address),
        &admin,
        None,
    )
    .await;
    assert_eq!(verify["intact"], true, "{verify}");
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let (links, distinct_prev, max_seq): (i64, i64, i64) =
        sqlx::query_as("select count(*), count(distinct prev_hash), max(seq) from audit_chain")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(links, max_seq, "seq runs 1..n without gaps");
    assert_eq!(
        links, distinct_prev,
        "no two links share a predecessor: no fork"
    );
    assert!(links >= 180, "{links} links");
    pool.close().await;
    for server in servers {
        server.stop().await;
    }
    drop_database(&database_url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_decision_changes_nothing_and_a_rejection_inside_a_quorum_rejects() {
    let app = spawn_app(&[("quorum", QUORUM_OF_TWO)]).await;
    for name in ["ana", "ben"] {
        app.create_key(name, Role::ComplianceOfficer, None).await;
    }
    app.create_key("crm", Role::Integrator, None).await;
    let (_, run) = app
        .post_as("/v1/runs", &json!({ "workflow": "quorum" }), "crm")
        .await;
    let run = run["id"].as_str().unwrap().to_owned();
    app.wait_at_step(&run, "review").await;
    let decision = format!("/v1/runs/{run}/steps/review/decision");
    let rows = |app: &crate::helpers::TestApp| {
        let url = app.database_url.clone();
        let run = run.clone();
        async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let row: (String, i64, i64, i64, i64) = sqlx::query_as(
                "select r.status || '/' || coalesce(r.current_step, '') || '/' || r.generation,
                        (select count(*) from run_history h where h.run_id = r.id),
                        (select count(*) from step_decisions d where d.run_id = r.id),
                        (select count(*) from apalis.jobs),
                        (select count(*) from run_steps s where s.run_id = r.id)
                 from runs r where r.id = $1::uuid",
            )
            .bind(&run)
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            row
        }
    };
    let before = rows(&app).await;
    // The integrator holds no approving role: refused, and only the refusal is recorded.
    let (status, refused) = app
        .post_as(
            &decision,
            &json!({ "decision": "approve", "reason": "x" }),
            "crm",
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        rows(&app).await,
        before,
        "a refused decision changed the run"
    );
    let (_, audit) = app.get("/v1/audit?action=decision.refused").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);

    // One approval of two, then a rejection: the step is rejected, the run fails.
    let (status, _) = app
        .post_as(
            &decision,
            &json!({ "decision": "approve", "reason": "fine" }),
            "ana",
        )
        .await;
    assert_eq!(status, 200);
    let (_, waiting) = app.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(waiting["status"], "waiting");
    let (status, _) = app
        .post_as(
            &decision,
            &json!({ "decision": "reject", "reason": "no" }),
            "ben",
        )
        .await;
    assert_eq!(status, 200);
    let failed = app.wait_for_status(&run, "failed").await;
    let review = crate::onboarding::step(&failed, "review");
    assert_eq!(review["outcome"], "rejected", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("rejected by ben")
    );
    app.stop().await;
}

/// The ledger holds no free text: a decision's reason, a cancel's reason and an event's
/// correlation that name a customer stay in the run's history (which erasure reaches) and
/// reach the ledger only as their length; the chain still verifies.
#[tokio::test(flavor = "multi_thread")]
async fn free_text_naming_a_customer_stays_out_of_the_ledger() {
    const NUMBER: &str = "4915199887766";
    let app = spawn_app(&[("quorum", QUORUM_OF_TWO)]).await;
    app.create_key("ana", Role::ComplianceOfficer, None).await;
    let run = app.start("quorum", json!({})).await;
    app.wait_at_step(&run, "review").await;
    let (status, _) = app
        .post_as(
            &format!("/v1/runs/{run}/events"),
            &json!({ "name": "note", "correlation": NUMBER }),
            "tester",
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = app
        .post_as(
            &format!("/v1/runs/{run}/steps/review/decision"),
            &json!({ "decision": "approve", "reason": format!("Ana Lima called from {NUMBER}") }),
            "ana",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .post(
            &format!("/v1/runs/{run}/cancel"),
            &json!({ "reason": format!("duplicate of {NUMBER}") }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, detail) = app.get(&format!("/v1/runs/{run}")).await;
    assert!(detail["history"].to_string().contains(NUMBER), "{detail:#}");
    let (_, verify) = app.get("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    assert_eq!(
        app.count("select count(*) from audit_ledger where data::text like '%4915199887766%' or data::text like '%Lima%'")
            .await,
        0
    );
    assert!(
        app.count("select count(*) from audit_ledger where data::text like '%\"redacted\": true%'")
            .await
            >= 2
    );
    app.stop().await;
}
