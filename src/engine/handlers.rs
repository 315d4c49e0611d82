//! Task handlers: the trait the engine calls, their results, and the registry by name.
//!
//! [`context`] reads the run context a handler is given; [`builtin`] holds the handlers
//! every definition can use without domain code.
//!
//! Handlers must be idempotent: a crash between a handler's side effect and the engine
//! recording its result repeats the attempt (at-least-once execution).

pub mod builtin;
pub mod context;

use crate::store::ids::RunId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::handlers::context::first_nul;

/// What a handler is given for one attempt.
#[derive(Debug, Clone)]
pub struct HandlerCall {
    /// The run.
    pub run_id: RunId,
    /// The step being executed.
    pub step_id: String,
    /// 1-based attempt number.
    pub attempt: i32,
    /// The run context `{input, steps}`.
    pub context: Value,
    /// The step's fixed `params` (`Null` when none).
    pub params: Value,
}

impl HandlerCall {
    /// The run's input as the handler's own type. A run whose input does not fit fails
    /// the step for good, naming what is missing or wrong: retrying cannot change it.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        T::deserialize(&self.context["input"]).map_err(|error| {
            HandlerError::Fatal(format!(
                "the run input does not fit step `{}`: {error}",
                self.step_id
            ))
        })
    }

    /// An optional string of the run input.
    pub fn input_str(&self, key: &str) -> Option<&str> {
        self.context["input"].get(key).and_then(Value::as_str)
    }
}

/// The outcome of a task that finished normally (definitions name it `ok`).
pub const OK_OUTCOME: &str = "ok";

/// A successful attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerOutput {
    /// Outcome used to choose the next step (`ok` unless the handler names another).
    pub outcome: String,
    /// Output stored in the context under `steps.<step_id>`.
    pub output: Value,
}

impl HandlerOutput {
    /// An `ok` outcome with this output.
    pub fn ok(output: Value) -> Self {
        Self {
            outcome: OK_OUTCOME.to_owned(),
            output,
        }
    }
}

/// A failed attempt, classified by whether trying again could help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    /// A passing fault: the engine retries with backoff while attempts remain.
    #[error("{0}")]
    Retryable(String),
    /// Trying again cannot help: the step fails at once.
    #[error("{0}")]
    Fatal(String),
    /// Someone asked us to slow down (e.g. Meta's rate limits): retried like `Retryable`,
    /// but no sooner than the wait.
    #[error("{0}")]
    RateLimited(String, std::time::Duration),
}

impl HandlerError {
    /// The least time before the next attempt, beyond the step's own backoff.
    pub fn minimum_wait(&self) -> std::time::Duration {
        match self {
            HandlerError::RateLimited(_, wait) => *wait,
            _ => std::time::Duration::ZERO,
        }
    }

    /// The same error with its message changed by `change`.
    pub fn map_message(self, change: impl FnOnce(&str) -> String) -> Self {
        match self {
            HandlerError::Retryable(message) => HandlerError::Retryable(change(&message)),
            HandlerError::Fatal(message) => HandlerError::Fatal(change(&message)),
            HandlerError::RateLimited(message, wait) => {
                HandlerError::RateLimited(change(&message), wait)
            }
        }
    }

    /// Whether another attempt may help.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, HandlerError::Fatal(_))
    }

    /// A storage failure inside a handler: a passing fault, worth retrying.
    pub fn storage(error: sqlx::Error) -> Self {
        HandlerError::Retryable(format!("database: {error}"))
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        HandlerError::storage(error)
    }
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<HandlerOutput, HandlerError>> + Send>>;

/// A named piece of work a `task` step can call.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt.
    fn call(&self, call: HandlerCall) -> HandlerFuture;
}

impl<F> Handler for F
where
    F: Fn(HandlerCall) -> HandlerFuture + Send + Sync + 'static,
{
    fn call(&self, call: HandlerCall) -> HandlerFuture {
        self(call)
    }
}

/// Handlers by name, and the workflows whose approvals a domain decides.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn Handler>>,
    owned_decisions: HashMap<String, &'static str>,
}

impl HandlerRegistry {
    /// Adds or replaces a handler.
    pub fn register(&mut self, name: &str, handler: impl Handler) {
        self.handlers.insert(name.to_owned(), Arc::new(handler));
    }

    /// The handler of this name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(name).cloned()
    }

    /// Whether a handler of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Says that `workflow`'s approvals are decided through its domain's command (named
    /// by `through`, e.g. `POST /v1/privacy-requests/{id}/decision`), which records the
    /// decision with its request in the same transaction: the engine's plain decision
    /// ([`crate::engine::Engine::decide`]) is then refused for its runs.
    pub fn own_decisions(&mut self, workflow: &str, through: &'static str) {
        self.owned_decisions.insert(workflow.to_owned(), through);
    }

    /// Where `workflow`'s approvals are decided, if a domain owns them.
    pub fn decided_through(&self, workflow: &str) -> Option<&'static str> {
        self.owned_decisions.get(workflow).copied()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}

/// Registers handler functions `async fn(&Deps, HandlerCall) -> Result<…>` by name, each
/// sharing one copy of the dependencies: a domain's list of its handlers.
macro_rules! register_handlers {
    ($registry:expr, $deps:expr, { $($name:literal => $function:path),* $(,)? }) => {{
        let deps = std::sync::Arc::new($deps);
        $(
            let shared = deps.clone();
            $registry.register(
                $name,
                move |call: $crate::engine::handlers::HandlerCall| -> $crate::engine::handlers::HandlerFuture {
                    let deps = shared.clone();
                    Box::pin(async move { $function(&deps, call).await })
                },
            );
        )*
    }};
}
pub(crate) use register_handlers;

/// A handler's result as it can be stored: PostgreSQL cannot hold U+0000 (NUL) in `text`
/// or `jsonb`, so an output or outcome holding one fails the attempt for good (storing it
/// would fail the completion on every try, and every retry would run the handler again),
/// and a NUL in an error message is replaced.
pub fn storable(
    handler: &str,
    result: Result<HandlerOutput, HandlerError>,
) -> Result<HandlerOutput, HandlerError> {
    let fatal = |at: &str| {
        Err(HandlerError::Fatal(format!(
            "handler `{handler}` returned U+0000 (NUL) in {at}, which cannot be stored"
        )))
    };
    match result {
        Ok(output) if output.outcome.contains('\0') => fatal("its outcome"),
        Ok(output) => match first_nul(&output.output) {
            Some(pointer) => fatal(&format!("its output at `{pointer}`")),
            None => Ok(output),
        },
        Err(error) => Err(error.map_message(|message| message.replace('\0', "\u{FFFD}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{HandlerError, HandlerOutput, storable};

    #[test]
    fn a_result_that_cannot_be_stored_fails_the_attempt_for_good() {
        let output = HandlerOutput::ok(json!({ "reply": { "text": "hi\u{0}there" } }));
        let Err(HandlerError::Fatal(message)) = storable("demo", Ok(output)) else {
            panic!("a NUL in the output is fatal");
        };
        assert!(message.contains("`/reply/text`"), "{message}");

        let output = HandlerOutput {
            outcome: "ok\u{0}".to_owned(),
            output: json!({}),
        };
        assert!(matches!(
            storable("demo", Ok(output)),
            Err(HandlerError::Fatal(_))
        ));

        let clean = HandlerOutput::ok(json!({ "text": "\\u0000 spelled out" }));
        assert_eq!(storable("demo", Ok(clean.clone())), Ok(clean));
    }

    #[test]
    fn a_nul_in_an_error_message_is_replaced_and_the_error_kept() {
        let error = HandlerError::Retryable("bad\u{0}byte".to_owned());
        assert_eq!(
            storable("demo", Err(error)),
            Err(HandlerError::Retryable("bad\u{FFFD}byte".to_owned()))
        );
    }
}
