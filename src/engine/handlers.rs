//! Task handlers: the trait the engine calls, their results, and the registry by name.
//!
//! Handlers must be idempotent: a crash between a handler's side effect and the engine
//! recording its result repeats the attempt (at-least-once execution).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::builtin;

/// What a handler is given for one attempt.
#[derive(Debug, Clone)]
pub struct HandlerCall {
    /// The run.
    pub run_id: Uuid,
    /// The step being executed.
    pub step_id: String,
    /// 1-based attempt number.
    pub attempt: i32,
    /// The run context `{input, steps}`.
    pub context: Value,
    /// The step's fixed `params` (`Null` when none).
    pub params: Value,
}

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
            outcome: super::definition::outcome::OK.to_owned(),
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

/// Handlers by name.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl HandlerRegistry {
    /// A registry holding the built-in handlers.
    pub fn with_builtins() -> Self {
        let mut registry = Self::default();
        builtin::register(&mut registry);
        registry
    }

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

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}
