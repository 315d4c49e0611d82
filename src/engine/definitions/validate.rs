//! Turns a [`RawDefinition`] into a [`Definition`], collecting every problem with the
//! file and step it belongs to.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::duration::parse_duration;
use crate::engine::definitions::definition::*;
use crate::engine::handlers::context::is_valid_path;

mod specs;

use specs::{approval_spec, task_spec, timer_spec};

/// Longest a task attempt may run when its definition sets no `timeout`.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(300);

/// One problem in one definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// The file, as given to the loader.
    pub file: String,
    /// The step the problem is in, if it is in one.
    pub step: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Some(step) => write!(f, "{}: step `{}`: {}", self.file, step, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a set of files.
#[derive(Debug, Clone)]
pub struct DefinitionErrors(pub Vec<DefinitionError>);

impl fmt::Display for DefinitionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionErrors {}

/// A TOML error as `line L, column C: message` (lines and columns from 1).
pub fn toml_problem(source: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &source[..span.start.min(source.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {}", error.message())
        }
        None => error.message().to_owned(),
    }
}

/// Parses and validates one definition file.
///
/// `file` names the file in error messages; `expected_name` is the file stem the
/// workflow's `name` must equal (None skips that check, for definitions read back from
/// the database); `has_handler` says whether a task handler name is registered.
pub fn parse_definition(
    file: &str,
    expected_name: Option<&str>,
    source: &str,
    has_handler: &dyn Fn(&str) -> bool,
) -> Result<Definition, Vec<DefinitionError>> {
    let mut problems = Problems { file, list: vec![] };
    let raw: RawDefinition = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(error) => {
            problems.file_level(format!(
                "not a valid definition: {}",
                toml_problem(source, &error)
            ));
            return Err(problems.list);
        }
    };
    check_header(&raw, expected_name, &mut problems);
    let input_schema = input_schema(&raw, &mut problems);
    let sla = raw
        .sla
        .as_deref()
        .and_then(|sla| problems.duration(None, "sla", sla));

    let mut index_of = HashMap::new();
    for (index, step) in raw.steps.iter().enumerate() {
        if index_of.insert(step.id.as_str(), index).is_some() {
            problems.in_step(&step.id, "duplicate step id".into());
        }
        if step.id.is_empty() || step.id == "succeed" || step.id == "fail" {
            problems.in_step(
                &step.id,
                "a step id may not be empty, `succeed` or `fail`".into(),
            );
        }
    }
    let resolve = |target: &str| -> Option<Target> {
        match target {
            "succeed" => Some(Target::Succeed),
            "fail" => Some(Target::Fail),
            id => index_of.get(id).map(|&i| Target::Step(i)),
        }
    };

    let mut steps = Vec::with_capacity(raw.steps.len());
    for (index, raw_step) in raw.steps.iter().enumerate() {
        let next = if index + 1 < raw.steps.len() {
            Target::Step(index + 1)
        } else {
            Target::Succeed
        };
        if let Some(step) = build_step(raw_step, next, &resolve, has_handler, &mut problems) {
            steps.push(step);
        }
    }
    if raw.steps.is_empty() {
        problems.file_level("a workflow needs at least one step".into());
    }
    for step in &steps {
        if let StepKind::Approval(spec) = &step.kind {
            for other in &spec.distinct_from {
                if !steps.iter().any(|s| &s.id == other && s.id != step.id) {
                    problems.in_step(
                        &step.id,
                        format!("`distinct_from` names `{other}`, which is not another step"),
                    );
                }
            }
        }
    }
    if problems.list.is_empty() {
        for (step, message) in crate::engine::definitions::graph::check_graph(&steps) {
            problems.in_step(&step, message);
        }
    }
    if !problems.list.is_empty() {
        return Err(problems.list);
    }
    Ok(Definition {
        name: raw.name,
        version: raw.version,
        description: raw.description,
        input_schema,
        sla,
        steps,
        sha256: hex::encode(Sha256::digest(source.as_bytes())),
        source: source.to_owned(),
    })
}

fn check_header(raw: &RawDefinition, expected_name: Option<&str>, problems: &mut Problems) {
    let name_ok = !raw.name.is_empty()
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        problems.file_level(format!(
            "name `{}` must be lowercase letters, digits and underscores",
            raw.name
        ));
    }
    if let Some(expected) = expected_name
        && expected != raw.name
    {
        problems.file_level(format!(
            "name `{}` must match the file name `{expected}.toml`",
            raw.name
        ));
    }
    if raw.version < 1 {
        problems.file_level(format!("version must be 1 or more, not {}", raw.version));
    }
}

fn input_schema(raw: &RawDefinition, problems: &mut Problems) -> Option<Value> {
    let schema: Value = match raw.input_schema.as_ref()? {
        toml::Value::String(text) => match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                problems.file_level(format!("input_schema is not valid JSON: {error}"));
                return None;
            }
        },
        other => match serde_json::to_value(other) {
            Ok(value) => value,
            Err(error) => {
                problems.file_level(format!("input_schema cannot be read: {error}"));
                return None;
            }
        },
    };
    if let Err(error) = jsonschema::meta::validate(&schema) {
        problems.file_level(format!(
            "input_schema is not a valid JSON Schema: {error} (at {})",
            error.instance_path
        ));
        return None;
    }
    if let Err(error) = jsonschema::validator_for(&schema) {
        problems.file_level(format!("input_schema cannot be compiled: {error}"));
        return None;
    }
    Some(schema)
}

/// Fields each kind may carry, besides `id`, `kind`, `description` and `on`.
fn allowed_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "task" => &["handler", "params", "retry", "timeout"],
        "approval" => &[
            "roles",
            "quorum",
            "not_initiator",
            "distinct_from",
            "not_named_at",
            "expires_after",
            "on_timeout",
        ],
        "wait_event" => &["event", "correlation", "timeout", "until", "on_timeout"],
        "timer" => &["until", "delay"],
        _ => &[],
    }
}

fn present_fields(step: &RawStep) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 15] = [
        ("handler", step.handler.is_some()),
        ("params", step.params.is_some()),
        ("retry", step.retry.is_some()),
        ("timeout", step.timeout.is_some()),
        ("roles", step.roles.is_some()),
        ("quorum", step.quorum.is_some()),
        ("not_initiator", step.not_initiator.is_some()),
        ("distinct_from", step.distinct_from.is_some()),
        ("not_named_at", step.not_named_at.is_some()),
        ("expires_after", step.expires_after.is_some()),
        ("event", step.event.is_some()),
        ("correlation", step.correlation.is_some()),
        ("on_timeout", step.on_timeout.is_some()),
        ("until", step.until.is_some()),
        ("delay", step.delay.is_some()),
    ];
    fields
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name)
        .collect()
}

fn build_step(
    raw: &RawStep,
    next: Target,
    resolve: &dyn Fn(&str) -> Option<Target>,
    has_handler: &dyn Fn(&str) -> bool,
    problems: &mut Problems,
) -> Option<Step> {
    let id = raw.id.as_str();
    let allowed = allowed_fields(&raw.kind);
    if allowed.is_empty() {
        problems.in_step(
            id,
            format!(
                "unknown kind `{}` (task, approval, wait_event or timer)",
                raw.kind
            ),
        );
        return None;
    }
    for field in present_fields(raw) {
        if !allowed.contains(&field) {
            problems.in_step(
                id,
                format!("`{field}` is not allowed on a {} step", raw.kind),
            );
        }
    }
    let mut on = BTreeMap::new();
    for (outcome, target) in &raw.on {
        if !outcome_allowed(&raw.kind, outcome) {
            problems.in_step(
                id,
                format!("outcome `{outcome}` cannot happen on a {} step", raw.kind),
            );
        }
        match resolve(target) {
            Some(resolved) => {
                on.insert(outcome.clone(), resolved);
            }
            None => problems.in_step(
                id,
                format!(
                    "`on.{outcome}` points at `{target}`, which is not a step, `succeed` or `fail`"
                ),
            ),
        }
    }
    let kind = match raw.kind.as_str() {
        "task" => StepKind::Task(task_spec(raw, has_handler, problems)?),
        "approval" => {
            let on_timeout = on_timeout_target(raw, resolve, problems);
            StepKind::Approval(approval_spec(raw, on_timeout, problems)?)
        }
        "wait_event" => {
            let on_timeout = on_timeout_target(raw, resolve, problems);
            let Some(event) = raw.event.clone().filter(|e| !e.is_empty()) else {
                problems.in_step(id, "a wait_event step needs `event`".into());
                return None;
            };
            if let Some(path) = &raw.correlation
                && !is_valid_path(path)
            {
                problems.in_step(
                    id,
                    format!("`correlation` path `{path}` must start with `input.` or `steps.`"),
                );
            }
            let timeout = raw
                .timeout
                .as_deref()
                .and_then(|text| problems.duration(Some(id), "timeout", text));
            if let Some(path) = &raw.until {
                if raw.timeout.is_some() {
                    problems.in_step(
                        id,
                        "a wait_event step waits for `timeout` or `until`, not both".into(),
                    );
                } else if !is_valid_path(path) {
                    problems.in_step(
                        id,
                        format!("`until` path `{path}` must start with `input.` or `steps.`"),
                    );
                }
            }
            StepKind::WaitEvent(WaitEventSpec {
                event,
                correlation: raw.correlation.clone(),
                timeout,
                until: raw.until.clone(),
                on_timeout,
            })
        }
        _ => StepKind::Timer(timer_spec(raw, problems)?),
    };
    Some(Step {
        id: raw.id.clone(),
        kind,
        on,
        next,
    })
}

fn on_timeout_target(
    raw: &RawStep,
    resolve: &dyn Fn(&str) -> Option<Target>,
    problems: &mut Problems,
) -> Target {
    let Some(target) = raw.on_timeout.as_deref() else {
        return Target::Fail;
    };
    resolve(target).unwrap_or_else(|| {
        problems.in_step(
            &raw.id,
            format!("`on_timeout` points at `{target}`, which is not a step, `succeed` or `fail`"),
        );
        Target::Fail
    })
}

fn outcome_allowed(kind: &str, outcome: &str) -> bool {
    match kind {
        // Handlers may name their own outcomes.
        "task" => !outcome.is_empty(),
        "approval" => matches!(outcome, "approved" | "rejected"),
        "wait_event" => outcome == "received",
        _ => outcome == "ok",
    }
}

struct Problems<'a> {
    file: &'a str,
    list: Vec<DefinitionError>,
}

impl Problems<'_> {
    fn file_level(&mut self, message: String) {
        self.list.push(DefinitionError {
            file: self.file.to_owned(),
            step: None,
            message,
        });
    }

    fn in_step(&mut self, step: &str, message: String) {
        self.list.push(DefinitionError {
            file: self.file.to_owned(),
            step: Some(step.to_owned()),
            message,
        });
    }

    fn duration(&mut self, step: Option<&str>, field: &str, text: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(reason) => {
                let message = format!("bad duration in `{field}`: {reason}");
                match step {
                    Some(step) => self.in_step(step, message),
                    None => self.file_level(message),
                }
                None
            }
        }
    }
}
