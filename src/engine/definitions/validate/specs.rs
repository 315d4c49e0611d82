//! Building and checking the kind-specific part of a step: a task's handler, retry and
//! timeout; an approval's roles and policy; a timer's instant.

use std::time::Duration;

use serde_json::Value;

use super::{DEFAULT_TASK_TIMEOUT, Problems};
use crate::engine::definitions::definition::*;
use crate::engine::handlers::context::is_valid_path;

pub(super) fn task_spec(
    raw: &RawStep,
    has_handler: &dyn Fn(&str) -> bool,
    problems: &mut Problems,
) -> Option<TaskSpec> {
    let id = raw.id.as_str();
    let Some(handler) = raw.handler.clone() else {
        problems.in_step(id, "a task step needs `handler`".into());
        return None;
    };
    if !has_handler(&handler) {
        problems.in_step(id, format!("unknown handler `{handler}`"));
    }
    let retry = match &raw.retry {
        None => RetryPolicy {
            max_attempts: 1,
            exponential: true,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(600),
        },
        Some(retry) => {
            if retry.max_attempts == 0 {
                problems.in_step(id, "`retry.max_attempts` must be 1 or more".into());
            }
            let exponential = match retry.backoff.as_deref() {
                None | Some("exponential") => true,
                Some("fixed") => false,
                Some(other) => {
                    problems.in_step(
                        id,
                        format!("`retry.backoff` `{other}` must be `exponential` or `fixed`"),
                    );
                    true
                }
            };
            let initial = retry
                .initial
                .as_deref()
                .map_or(Some(Duration::from_secs(1)), |text| {
                    problems.duration(Some(id), "retry.initial", text)
                })?;
            let max = retry
                .max
                .as_deref()
                .map_or(Some(Duration::from_secs(600)), |text| {
                    problems.duration(Some(id), "retry.max", text)
                })?;
            RetryPolicy {
                max_attempts: retry.max_attempts.max(1),
                exponential,
                initial,
                max,
            }
        }
    };
    let timeout = match raw.timeout.as_deref() {
        None => DEFAULT_TASK_TIMEOUT,
        Some(text) => problems.duration(Some(id), "timeout", text)?,
    };
    let params = match &raw.params {
        None => Value::Null,
        Some(params) => serde_json::to_value(params).unwrap_or(Value::Null),
    };
    Some(TaskSpec {
        handler,
        params,
        retry,
        timeout,
    })
}

pub(super) fn approval_spec(
    raw: &RawStep,
    on_timeout: Target,
    problems: &mut Problems,
) -> Option<ApprovalSpec> {
    let id = raw.id.as_str();
    let roles = raw.roles.clone().unwrap_or_default();
    if roles.is_empty() {
        problems.in_step(
            id,
            "an approval step needs at least one role in `roles`".into(),
        );
    }
    for role in &roles {
        if role.parse::<crate::security::Role>().is_err() {
            problems.in_step(
                id,
                format!(
                    "unknown role `{role}` in `roles`; roles are admin, integrator, \
                     compliance_officer, compliance_lead, auditor"
                ),
            );
        }
    }
    let quorum = raw.quorum.unwrap_or(1);
    if quorum == 0 {
        problems.in_step(id, "`quorum` must be 1 or more".into());
    }
    let expires_after = match raw.expires_after.as_deref() {
        None => None,
        Some(text) => Some(problems.duration(Some(id), "expires_after", text)?),
    };
    let not_named_at = raw.not_named_at.clone().unwrap_or_default();
    for path in &not_named_at {
        if !is_valid_path(path) {
            problems.in_step(
                id,
                format!("`not_named_at` path `{path}` must start at `input` or `steps`"),
            );
        }
    }
    Some(ApprovalSpec {
        roles,
        quorum,
        not_initiator: raw.not_initiator.unwrap_or(true),
        distinct_from: raw.distinct_from.clone().unwrap_or_default(),
        not_named_at,
        expires_after,
        on_timeout,
    })
}

pub(super) fn timer_spec(raw: &RawStep, problems: &mut Problems) -> Option<TimerSpec> {
    let id = raw.id.as_str();
    match (&raw.until, &raw.delay) {
        (Some(path), None) => {
            if !is_valid_path(path) {
                problems.in_step(
                    id,
                    format!("`until` path `{path}` must start with `input.` or `steps.`"),
                );
            }
            Some(TimerSpec::Until(path.clone()))
        }
        (None, Some(delay)) => Some(TimerSpec::Delay(problems.duration(
            Some(id),
            "delay",
            delay,
        )?)),
        _ => {
            problems.in_step(
                id,
                "a timer step needs exactly one of `until` or `delay`".into(),
            );
            None
        }
    }
}
