//! What a newcomer sees when start-up goes wrong: each error names the setting and the
//! value (never a password), in words.

use std::process::Command;

/// `bazaarstreet serve` with these settings and nothing of the caller's environment;
/// answers its exit status and standard error.
fn serve(settings: &[(&str, &str)]) -> (bool, String) {
    let workflows = crate::helpers::write_files(&[]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_bazaarstreet"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BAZAARSTREET_") {
            command.env_remove(name);
        }
    }
    command
        .arg("serve")
        .env("BAZAARSTREET_WORKFLOWS_DIR", workflows.path())
        .env("BAZAARSTREET_JOBS_DIR", workflows.path())
        .env("BAZAARSTREET_LISTEN", "127.0.0.1:0");
    for (name, value) in settings {
        command.env(name, value);
    }
    let output = command.output().expect("serve runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_url_of_another_database_is_refused_naming_the_setting_and_hiding_the_password() {
    let (ok, stderr) = serve(&[(
        "BAZAARSTREET_DATABASE_URL",
        "mysql://root:hunter2@127.0.0.1/app",
    )]);
    assert!(!ok);
    assert!(stderr.contains("BAZAARSTREET_DATABASE_URL"), "{stderr}");
    assert!(
        stderr.contains("mysql://root:***@127.0.0.1/app"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_database_that_refuses_is_named_with_the_setting_in_words() {
    let (ok, stderr) = serve(&[(
        "BAZAARSTREET_DATABASE_URL",
        "postgres://nobody_here:secret@127.0.0.1:5432/app",
    )]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot connect to the database nobody_here@127.0.0.1:5432/app (BAZAARSTREET_DATABASE_URL)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("role \"nobody_here\" does not exist"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret") && !stderr.contains(" at line "),
        "{stderr}"
    );
}

#[test]
fn a_taken_sandbox_port_names_the_sandbox_and_its_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let database = crate::helpers::fresh_database_url();
    let (ok, stderr) = serve(&[
        ("BAZAARSTREET_DATABASE_URL", &database),
        ("BAZAARSTREET_META_SANDBOX_LISTEN", &address),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "cannot listen on {address} for the Meta sandbox (set BAZAARSTREET_META_SANDBOX_LISTEN to another address)"
        )),
        "{stderr}"
    );
    // What it logged before that: the start-up summary, without colour codes in a pipe.
    assert!(stderr.contains("database ready"), "{stderr}");
    assert!(stderr.contains("migrations.applied_now"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI escape codes off a terminal: {stderr}"
    );
    drop(taken);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(crate::helpers::drop_database(&database));
}
