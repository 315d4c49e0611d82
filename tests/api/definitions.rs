//! Definition validation: each kind of error is reported with its file and step.

use bazaarstreet::engine::definitions::validate::parse_definition;
use bazaarstreet::engine::handlers::HandlerRegistry;

fn problems(source: &str) -> Vec<String> {
    let registry = HandlerRegistry::with_builtins();
    match parse_definition("workflows/sample.toml", Some("sample"), source, &|h| {
        registry.contains(h)
    }) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_reports(source: &str, expected: &str) {
    let found = problems(source);
    assert!(
        found.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got {found:#?}"
    );
}

const HEADER: &str = "name = \"sample\"\nversion = 1\n";

#[test]
fn the_shipped_example_definition_is_valid() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/example.toml"
    ))
    .unwrap();
    let registry = HandlerRegistry::with_builtins();
    let definition = parse_definition("example.toml", Some("example"), &source, &|h| {
        registry.contains(h)
    })
    .unwrap();
    assert_eq!(definition.steps.len(), 4);
    assert_eq!(definition.sha256.len(), 64);
}

#[test]
fn an_unknown_handler_is_named_with_its_file_and_step() {
    let source =
        format!("{HEADER}[[steps]]\nid = \"send\"\nkind = \"task\"\nhandler = \"meta.nope\"\n");
    assert_reports(
        &source,
        "workflows/sample.toml: step `send`: unknown handler `meta.nope`",
    );
}

#[test]
fn a_transition_to_a_missing_step_is_dangling() {
    let source = format!(
        "{HEADER}[[steps]]\nid = \"review\"\nkind = \"approval\"\nroles = [\"compliance_officer\"]\non = {{ approved = \"shipp\" }}\n"
    );
    assert_reports(&source, "step `review`: `on.approved` points at `shipp`");
}

#[test]
fn a_step_no_transition_reaches_is_unreachable() {
    let source = format!(
        "{HEADER}[[steps]]\nid = \"a\"\nkind = \"approval\"\nroles = [\"compliance_officer\"]\non = {{ approved = \"succeed\", rejected = \"fail\" }}\n[[steps]]\nid = \"b\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n"
    );
    assert_reports(&source, "step `b`: unreachable");
}

#[test]
fn a_repeated_step_id_is_a_duplicate() {
    let source = format!(
        "{HEADER}[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n"
    );
    assert_reports(&source, "step `a`: duplicate step id");
}

#[test]
fn a_bad_duration_names_the_field() {
    let source = format!("{HEADER}[[steps]]\nid = \"nap\"\nkind = \"timer\"\ndelay = \"30\"\n");
    assert_reports(&source, "step `nap`: bad duration in `delay`");
    let source = format!(
        "{HEADER}[[steps]]\nid = \"call\"\nkind = \"task\"\nhandler = \"builtin.noop\"\nretry = {{ max_attempts = 3, initial = \"2 fortnights\" }}\n"
    );
    assert_reports(&source, "step `call`: bad duration in `retry.initial`");
}

#[test]
fn an_invalid_input_schema_is_refused() {
    let source = format!(
        "{HEADER}input_schema = '{{\"type\": \"objekt\"}}'\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n"
    );
    assert_reports(&source, "input_schema is not a valid JSON Schema");
    let source = format!(
        "{HEADER}input_schema = '{{not json'\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n"
    );
    assert_reports(&source, "input_schema is not valid JSON");
}

#[test]
fn a_cycle_without_a_wait_is_refused_and_one_through_a_wait_is_not() {
    let looping = format!(
        "{HEADER}[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"b\"\nkind = \"task\"\nhandler = \"builtin.noop\"\non = {{ ok = \"a\" }}\n"
    );
    assert_reports(&looping, "cycle without a wait step: a -> b -> a");
    let waiting = format!(
        "{HEADER}[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n[[steps]]\nid = \"nap\"\nkind = \"timer\"\ndelay = \"1m\"\n[[steps]]\nid = \"b\"\nkind = \"task\"\nhandler = \"builtin.noop\"\non = {{ again = \"a\" }}\n"
    );
    assert_eq!(problems(&waiting), Vec::<String>::new());
}

#[test]
fn fields_of_another_kind_and_unknown_kinds_are_refused() {
    let source = format!(
        "{HEADER}[[steps]]\nid = \"a\"\nkind = \"approval\"\nroles = [\"compliance_officer\"]\nhandler = \"builtin.noop\"\n"
    );
    assert_reports(
        &source,
        "step `a`: `handler` is not allowed on a approval step",
    );
    let source = format!("{HEADER}[[steps]]\nid = \"a\"\nkind = \"teleport\"\n");
    assert_reports(&source, "unknown kind `teleport`");
    let source = format!(
        "{HEADER}[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\ncolour = \"red\"\n"
    );
    assert_reports(&source, "unknown field `colour`");
}

#[test]
fn the_name_must_match_the_file() {
    let source = "name = \"other\"\nversion = 1\n[[steps]]\nid = \"a\"\nkind = \"task\"\nhandler = \"builtin.noop\"\n";
    assert_reports(source, "must match the file name `sample.toml`");
}

#[test]
fn workflows_check_exits_non_zero_on_an_invalid_directory() {
    let dir = crate::helpers::write_files(&[(
        "broken",
        "name = \"broken\"\nversion = 1\n[[steps]]\nid = \"x\"\nkind = \"task\"\nhandler = \"nope\"\n",
    )]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bazaarstreet"))
        .args(["workflows", "check"])
        .arg(dir.path())
        .env("BAZAARSTREET_JOBS_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("step `x`: unknown handler `nope`"),
        "{stderr}"
    );

    let valid = std::process::Command::new(env!("CARGO_BIN_EXE_bazaarstreet"))
        .args([
            "workflows",
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/workflows"),
        ])
        .env(
            "BAZAARSTREET_JOBS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/jobs"),
        )
        .output()
        .unwrap();
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );
}

/// `bazaarstreet workflows check DIR` with this jobs directory and database, and nothing
/// of the caller's environment.
fn check(dir: &std::path::Path, jobs: &std::path::Path, database: Option<&str>) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bazaarstreet"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BAZAARSTREET_") {
            command.env_remove(name);
        }
    }
    command
        .args(["workflows", "check"])
        .arg(dir)
        .env("BAZAARSTREET_JOBS_DIR", jobs);
    if let Some(url) = database {
        command.args(["--database", url]);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

const NEEDS_CUSTOMER: &str = r#"
name = "needs_customer"
version = 1
input_schema = '{"type": "object", "required": ["customer"]}'
[[steps]]
id = "a"
kind = "task"
handler = "builtin.noop"
"#;

#[test]
fn a_missing_directory_is_an_error_naming_its_path() {
    let workflows = crate::helpers::write_files(&[("needs_customer", NEEDS_CUSTOMER)]);
    let missing = workflows.path().join("no-such-jobs");
    let (ok, text) = check(workflows.path(), &missing, None);
    assert!(!ok, "{text}");
    assert!(
        text.contains("no-such-jobs: the directory does not exist"),
        "{text}"
    );
    let (ok, text) = check(&workflows.path().join("nope"), workflows.path(), None);
    assert!(!ok, "{text}");
    assert!(
        text.contains("nope: the directory does not exist"),
        "{text}"
    );
}

#[test]
fn a_schedule_whose_input_fails_its_workflow_schema_is_refused_naming_the_field() {
    let workflows = crate::helpers::write_files(&[("needs_customer", NEEDS_CUSTOMER)]);
    let jobs = crate::helpers::write_files(&[(
        "hourly",
        "name = \"hourly\"\ncron = \"0 * * * *\"\nworkflow = \"needs_customer\"\ninput = { other = 1 }\n",
    )]);
    let (ok, text) = check(workflows.path(), jobs.path(), None);
    assert!(!ok, "{text}");
    assert!(text.contains("hourly.toml"), "{text}");
    assert!(text.contains("/customer"), "{text}");

    let jobs = crate::helpers::write_files(&[(
        "hourly",
        "name = \"hourly\"\ncron = \"0 * * * *\"\nworkflow = \"needs_customer\"\ninput = { customer = \"C-1\" }\n",
    )]);
    let (ok, text) = check(workflows.path(), jobs.path(), None);
    assert!(ok, "{text}");
}

#[test]
fn a_toml_syntax_error_names_its_line_and_column() {
    let workflows = crate::helpers::write_files(&[(
        "sample",
        "name = \"sample\"\nversion = 1\n[[steps]\nid = \"a\"\n",
    )]);
    let (ok, text) = check(workflows.path(), workflows.path(), None);
    assert!(!ok, "{text}");
    assert!(text.contains("line 3, column"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_check_reports_a_changed_definition_that_kept_its_version() {
    let database_url = crate::helpers::fresh_database_url();
    let workflows = crate::helpers::write_files(&[("needs_customer", NEEDS_CUSTOMER)]);
    let jobs = crate::helpers::write_files(&[]);
    let mut app = crate::helpers::spawn_app_on(
        &database_url,
        &[("needs_customer", NEEDS_CUSTOMER)],
        &[],
        bazaarstreet::app::Roles::Api,
    )
    .await;
    app.stop_service().await;
    let (ok, text) = check(workflows.path(), jobs.path(), Some(&database_url));
    assert!(ok, "the same file: {text}");

    let edited = NEEDS_CUSTOMER.replace("id = \"a\"", "id = \"b\"");
    let workflows = crate::helpers::write_files(&[("needs_customer", &edited)]);
    let (ok, text) = check(workflows.path(), jobs.path(), Some(&database_url));
    assert!(!ok, "{text}");
    assert!(
        text.contains("workflow `needs_customer` version 1 differs from the stored version"),
        "{text}"
    );
    let bumped = edited.replace("version = 1", "version = 2");
    let workflows = crate::helpers::write_files(&[("needs_customer", &bumped)]);
    let (ok, text) = check(workflows.path(), jobs.path(), Some(&database_url));
    assert!(ok, "a new version: {text}");
    crate::helpers::drop_database(&database_url).await;
}
