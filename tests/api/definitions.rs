//! Definition validation: each kind of error is reported with its file and step.

use bazaarstreet::engine::handlers::HandlerRegistry;
use bazaarstreet::engine::validate::parse_definition;

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
