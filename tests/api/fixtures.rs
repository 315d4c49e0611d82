//! Workflow definitions that several test files run: fixtures (`workflows/` holds the
//! shipped ones).

/// Three task steps in a row (`a`, `b`, `c`), each `builtin.noop`.
pub const THREE_TASKS: &str = r#"
name = "three_tasks"
version = 1
[[steps]]
id = "a"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "b"
kind = "task"
handler = "builtin.noop"
[[steps]]
id = "c"
kind = "task"
handler = "builtin.noop"
"#;

/// An approval `review` for compliance officers (no outcome mapping), then task `after`.
pub const GATED: &str = r#"
name = "gated"
version = 1
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
[[steps]]
id = "after"
kind = "task"
handler = "builtin.noop"
"#;

/// One approval that needs two compliance officers, then a no-op.
pub const QUORUM_OF_TWO: &str = r#"
name = "quorum"
version = 1
[[steps]]
id = "review"
kind = "approval"
roles = ["compliance_officer"]
quorum = 2
[[steps]]
id = "done"
kind = "task"
handler = "builtin.noop"
"#;
