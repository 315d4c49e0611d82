//! Workflow definitions: the TOML file format (`Raw*`) and the validated model the engine runs.
//!
//! A file is parsed into [`RawDefinition`] (shape only), then `validate` turns it into a
//! [`Definition`] whose step targets are resolved indices, so the executor never meets a
//! dangling reference. See docs/WORKFLOWS.md for the format.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A workflow file exactly as written, before validation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefinition {
    /// Workflow name; must equal the file name without `.toml`.
    pub name: String,
    /// Version number; a changed file must carry a new number.
    pub version: i32,
    /// What the workflow is for.
    #[serde(default)]
    pub description: String,
    /// JSON Schema the run input must satisfy: a TOML table or a JSON string.
    #[serde(default)]
    pub input_schema: Option<toml::Value>,
    /// How long a run may take before it is reported as late, e.g. `"2d"`.
    #[serde(default)]
    pub sla: Option<String>,
    /// Ordered steps; the first one starts the run.
    #[serde(default)]
    pub steps: Vec<RawStep>,
}

/// One step as written; which fields are allowed depends on `kind`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Unique id within the workflow.
    pub id: String,
    /// `task`, `approval`, `wait_event` or `timer`.
    pub kind: String,
    /// Free text shown to people deciding or inspecting the step.
    #[serde(default)]
    pub description: Option<String>,
    /// task: registered handler name.
    #[serde(default)]
    pub handler: Option<String>,
    /// task: fixed parameters handed to the handler.
    #[serde(default)]
    pub params: Option<toml::Value>,
    /// task: retry policy.
    #[serde(default)]
    pub retry: Option<RawRetry>,
    /// task: longest one attempt may run; wait_event: how long to wait.
    #[serde(default)]
    pub timeout: Option<String>,
    /// approval: roles allowed to decide.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// approval: distinct approvals needed.
    #[serde(default)]
    pub quorum: Option<u32>,
    /// approval: whether the run's initiator is refused (default true).
    #[serde(default)]
    pub not_initiator: Option<bool>,
    /// approval: steps whose deciders may not decide this one.
    #[serde(default)]
    pub distinct_from: Option<Vec<String>>,
    /// approval: paths into the run context naming people (a handle or a list of them)
    /// who may not decide this step, e.g. `steps.prepare.placed_by`.
    #[serde(default)]
    pub not_named_at: Option<Vec<String>>,
    /// approval: how long the approval stays open.
    #[serde(default)]
    pub expires_after: Option<String>,
    /// wait_event: event name to wait for.
    #[serde(default)]
    pub event: Option<String>,
    /// wait_event: path into the run context whose value an event's correlation must equal.
    #[serde(default)]
    pub correlation: Option<String>,
    /// approval / wait_event: where to go when the wait expires (step id, `succeed` or `fail`).
    #[serde(default)]
    pub on_timeout: Option<String>,
    /// timer / wait_event: path into the run context holding an RFC 3339 instant (when
    /// the timer fires; until when the event is waited for).
    #[serde(default)]
    pub until: Option<String>,
    /// timer: fixed delay.
    #[serde(default)]
    pub delay: Option<String>,
    /// Outcome -> step id, `succeed` or `fail`.
    #[serde(default)]
    pub on: BTreeMap<String, String>,
}

/// A task's retry policy as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// `exponential` (default) or `fixed`.
    #[serde(default)]
    pub backoff: Option<String>,
    /// First delay (default `1s`).
    #[serde(default)]
    pub initial: Option<String>,
    /// Largest delay (default `10m`).
    #[serde(default)]
    pub max: Option<String>,
}

/// A validated workflow definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Workflow name.
    pub name: String,
    /// Version number.
    pub version: i32,
    /// What it is for.
    pub description: String,
    /// Compiled-check-ready input schema.
    pub input_schema: Option<Value>,
    /// Expected completion time.
    pub sla: Option<Duration>,
    /// Steps in file order.
    pub steps: Vec<Step>,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
    /// The file's text, kept so a pinned version can be rebuilt after the file changes.
    pub source: String,
}

impl Definition {
    /// Index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.id == id)
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }
}

/// Where a transition leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Continue with the step at this index.
    Step(usize),
    /// Finish the run as succeeded.
    Succeed,
    /// Finish the run as failed.
    Fail,
}

/// One validated step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique id.
    pub id: String,
    /// What the step does.
    pub kind: StepKind,
    /// Explicit outcome transitions.
    pub on: BTreeMap<String, Target>,
    /// Where an unmapped outcome goes: the next step, or success after the last.
    pub next: Target,
}

impl Step {
    /// Where `outcome` leads from this step.
    ///
    /// Unmapped outcomes continue with the next step, except the failure outcomes
    /// (`rejected`, `failed`, `timeout`) which fail the run unless mapped.
    pub fn target_for(&self, outcome: &str) -> Target {
        if let Some(target) = self.on.get(outcome) {
            return *target;
        }
        match outcome {
            outcome::REJECTED | outcome::FAILED | outcome::TIMEOUT => Target::Fail,
            _ => self.next,
        }
    }

    /// The step kind's name as written in files and shown in the API.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            StepKind::Task(_) => "task",
            StepKind::Approval(_) => "approval",
            StepKind::WaitEvent(_) => "wait_event",
            StepKind::Timer(_) => "timer",
        }
    }
}

/// Outcome names the engine itself produces.
pub mod outcome {
    /// A task finished normally; a timer elapsed.
    pub const OK: &str = crate::engine::handlers::OK_OUTCOME;
    /// A task failed fatally or ran out of attempts.
    pub const FAILED: &str = "failed";
    /// An approval reached its quorum.
    pub const APPROVED: &str = "approved";
    /// An approval was rejected.
    pub const REJECTED: &str = "rejected";
    /// A waited-for event arrived.
    pub const RECEIVED: &str = "received";
    /// An approval or event wait expired.
    pub const TIMEOUT: &str = "timeout";
}

/// The kinds of step and their settings.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Calls a registered handler.
    Task(TaskSpec),
    /// Parks the run until people decide.
    Approval(ApprovalSpec),
    /// Parks the run until a matching event arrives.
    WaitEvent(WaitEventSpec),
    /// Sleeps durably until an instant.
    Timer(TimerSpec),
}

impl StepKind {
    /// Whether the run parks on this step (approval, event or timer).
    pub fn waits(&self) -> bool {
        !matches!(self, StepKind::Task(_))
    }
}

/// Settings of a `task` step.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Registered handler name.
    pub handler: String,
    /// Fixed parameters; `Null` when none.
    pub params: Value,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Longest one attempt may run.
    pub timeout: Duration,
}

/// How a task is retried after a retryable error.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// Whether delays double after each attempt.
    pub exponential: bool,
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1`, given that `attempt` (1-based) just failed,
    /// before jitter.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        if !self.exponential {
            return self.initial.min(self.max);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Settings of an `approval` step.
#[derive(Debug, Clone)]
pub struct ApprovalSpec {
    /// Roles allowed to decide.
    pub roles: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Whether the run's initiator is refused.
    pub not_initiator: bool,
    /// Steps whose deciders are refused here.
    pub distinct_from: Vec<String>,
    /// Context paths naming people who are refused here.
    pub not_named_at: Vec<String>,
    /// How long the approval stays open.
    pub expires_after: Option<Duration>,
    /// Where an expired approval goes.
    pub on_timeout: Target,
}

/// Settings of a `wait_event` step.
#[derive(Debug, Clone)]
pub struct WaitEventSpec {
    /// Event name.
    pub event: String,
    /// Path into the run context whose value an event's correlation must equal.
    pub correlation: Option<String>,
    /// How long to wait.
    pub timeout: Option<Duration>,
    /// Or until when: a path into the run context holding an RFC 3339 instant (a timer
    /// that an event can cut short).
    pub until: Option<String>,
    /// Where an expired wait goes.
    pub on_timeout: Target,
}

/// Settings of a `timer` step.
#[derive(Debug, Clone)]
pub enum TimerSpec {
    /// Sleep until the RFC 3339 instant found at this context path.
    Until(String),
    /// Sleep for a fixed delay.
    Delay(Duration),
}
