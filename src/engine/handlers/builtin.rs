//! Built-in handlers, so definitions can be tested and benchmarked without domain code.
//!
//! - `builtin.noop`: output = its input (the step's `params`, or the run input without them).
//! - `builtin.fail`: fails; `params.fatal` (default false) picks fatal or retryable,
//!   `params.fail_attempts` (default: every attempt) lets later attempts succeed,
//!   `params.message` sets the error text, `params.rate_limited_for` (e.g. `"2s"`) makes it
//!   a rate-limit error retried no sooner than that.
//! - `builtin.sleep`: sleeps `params.duration` (e.g. `"5s"`), then behaves like noop.

use serde_json::Value;

use crate::duration::parse_duration;
use crate::engine::handlers::{
    HandlerCall, HandlerError, HandlerFuture, HandlerOutput, HandlerRegistry,
};

impl HandlerRegistry {
    /// A registry holding the built-in handlers (a domain adds its own to it).
    pub fn with_builtins() -> Self {
        let mut registry = Self::default();
        register(&mut registry);
        registry
    }
}

/// Registers every built-in handler.
pub fn register(registry: &mut HandlerRegistry) {
    registry.register("builtin.noop", |call: HandlerCall| -> HandlerFuture {
        Box::pin(async move { Ok(HandlerOutput::ok(noop_output(&call))) })
    });
    registry.register("builtin.fail", |call: HandlerCall| -> HandlerFuture {
        Box::pin(async move { fail(&call) })
    });
    registry.register("builtin.sleep", |call: HandlerCall| -> HandlerFuture {
        Box::pin(async move {
            let text = call.params.get("duration").and_then(Value::as_str);
            let duration = parse_duration(text.unwrap_or("1s")).map_err(HandlerError::Fatal)?;
            tokio::time::sleep(duration).await;
            Ok(HandlerOutput::ok(noop_output(&call)))
        })
    });
}

fn noop_output(call: &HandlerCall) -> Value {
    if call.params.is_null() {
        call.context.get("input").cloned().unwrap_or(Value::Null)
    } else {
        call.params.clone()
    }
}

fn fail(call: &HandlerCall) -> Result<HandlerOutput, HandlerError> {
    let params = &call.params;
    let fail_attempts = params.get("fail_attempts").and_then(Value::as_i64);
    if fail_attempts.is_some_and(|limit| i64::from(call.attempt) > limit) {
        return Ok(HandlerOutput::ok(noop_output(call)));
    }
    let message = params
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("builtin.fail failed as asked")
        .to_owned();
    if params
        .get("fatal")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(HandlerError::Fatal(message));
    }
    match params.get("rate_limited_for").and_then(Value::as_str) {
        Some(text) => {
            let wait = parse_duration(text).map_err(HandlerError::Fatal)?;
            Err(HandlerError::RateLimited(message, wait))
        }
        None => Err(HandlerError::Retryable(message)),
    }
}
