//! A reminder policy: which offsets before the start, which template in which language,
//! the quiet hours, and an optional cancellation template. A workspace has a default one
//! (24 h and 2 h before, `appointment_reminder`, 21:00–08:00, unless it set its own);
//! each appointment keeps a snapshot of the policy it was booked under, so a later change
//! of the default never moves reminders already planned. The commands reading and setting
//! the default are [`policy`] and [`set_policy`].

use serde_json::{Value, json};

use super::schedule::QuietHours;
use crate::engine::InputProblem;
use crate::security::Caller;

/// The template reminders use unless the workspace says otherwise.
pub const DEFAULT_TEMPLATE: &str = "appointment_reminder";

/// A policy as given: durations as text (`24h`), quiet hours as `HH:MM`.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    /// How long before the start each reminder goes out.
    pub offsets: Option<Vec<String>>,
    /// The template.
    pub template: Option<String>,
    /// Its language.
    pub language: Option<String>,
    /// `(from, to)`; `Some(None)`: none at all.
    pub quiet_hours: Option<Option<(String, String)>>,
    /// A template sent when the appointment is cancelled.
    pub cancellation_template: Option<String>,
}

/// A checked policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Offsets in seconds, largest first.
    pub offsets: Vec<i64>,
    /// The template.
    pub template: String,
    /// Its language.
    pub language: String,
    /// The quiet hours.
    pub quiet_hours: Option<QuietHours>,
    /// The cancellation template.
    pub cancellation_template: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            offsets: vec![24 * 3600, 2 * 3600],
            template: DEFAULT_TEMPLATE.to_owned(),
            language: "en_US".to_owned(),
            quiet_hours: QuietHours::parse("21:00", "08:00"),
            cancellation_template: None,
        }
    }
}

fn at(pointer: String, message: impl Into<String>) -> InputProblem {
    InputProblem {
        pointer,
        message: message.into(),
    }
}

fn template_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Policy {
    /// `input` over `base` (fields left out keep `base`'s), or every problem at its field
    /// under `prefix` (`/reminders`, ``).
    pub fn merge(
        base: &Policy,
        input: &PolicyInput,
        prefix: &str,
    ) -> Result<Policy, Vec<InputProblem>> {
        let mut problems = Vec::new();
        let mut policy = base.clone();
        if let Some(offsets) = &input.offsets {
            let mut seconds = Vec::new();
            if offsets.is_empty() || offsets.len() > 5 {
                problems.push(at(format!("{prefix}/offsets"), "one to five offsets"));
            }
            for (index, text) in offsets.iter().enumerate() {
                match crate::duration::parse_duration(text) {
                    Ok(duration)
                        if duration.as_secs() >= 60 && duration.as_secs() <= 30 * 86400 =>
                    {
                        seconds.push(duration.as_secs() as i64);
                    }
                    Ok(_) => problems.push(at(
                        format!("{prefix}/offsets/{index}"),
                        "between 1 minute and 30 days before the start",
                    )),
                    Err(error) => problems.push(at(format!("{prefix}/offsets/{index}"), error)),
                }
            }
            seconds.sort_unstable_by(|a, b| b.cmp(a));
            seconds.dedup();
            policy.offsets = seconds;
        }
        for (field, value) in [
            ("template", &input.template),
            ("cancellation_template", &input.cancellation_template),
        ] {
            if let Some(name) = value
                && !template_name_ok(name)
            {
                problems.push(at(
                    format!("{prefix}/{field}"),
                    "a template name: lower-case letters, digits and underscores",
                ));
            }
        }
        if let Some(template) = &input.template {
            policy.template = template.clone();
        }
        if let Some(name) = &input.cancellation_template {
            policy.cancellation_template = Some(name.clone());
        }
        if let Some(language) = &input.language {
            if language.is_empty() || language.len() > 15 {
                problems.push(at(
                    format!("{prefix}/language"),
                    "a language code such as en_US",
                ));
            }
            policy.language = language.clone();
        }
        match &input.quiet_hours {
            None => {}
            Some(None) => policy.quiet_hours = None,
            Some(Some((from, to))) => match QuietHours::parse(from, to) {
                Some(quiet) => policy.quiet_hours = Some(quiet),
                None => problems.push(at(
                    format!("{prefix}/quiet_hours"),
                    "two different times of day, HH:MM (21:00 to 08:00 wraps midnight)",
                )),
            },
        }
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(problems)
        }
    }

    /// The stored form.
    pub fn json(&self) -> Value {
        json!({
            "offsets_seconds": self.offsets,
            "template": self.template,
            "language": self.language,
            "quiet_hours": self.quiet_hours.map(|q| json!({
                "from": q.from.format("%H:%M").to_string(),
                "to": q.to.format("%H:%M").to_string(),
            })),
            "cancellation_template": self.cancellation_template,
        })
    }

    /// Reads the stored form back (`None`: not a policy).
    pub fn from_json(value: &Value) -> Option<Policy> {
        let quiet_hours = match &value["quiet_hours"] {
            Value::Null => None,
            quiet => Some(QuietHours::parse(
                quiet["from"].as_str()?,
                quiet["to"].as_str()?,
            )?),
        };
        Some(Policy {
            offsets: value["offsets_seconds"]
                .as_array()?
                .iter()
                .map(Value::as_i64)
                .collect::<Option<Vec<_>>>()?,
            template: value["template"].as_str()?.to_owned(),
            language: value["language"].as_str()?.to_owned(),
            quiet_hours,
            cancellation_template: value["cancellation_template"].as_str().map(str::to_owned),
        })
    }
}

/// A workspace's policy with what the business should know about it (its template's TTL
/// against the offsets, [`super::ttl`]).
#[derive(Debug, Clone)]
pub struct CheckedPolicy {
    /// The policy.
    pub policy: Policy,
    /// Warnings in words; empty when there is nothing to know.
    pub warnings: Vec<String>,
}

async fn checked(
    conn: &mut sqlx::PgConnection,
    workspace: &str,
    policy: Policy,
) -> Result<CheckedPolicy, super::ReminderError> {
    let warnings = super::ttl::warnings(conn, workspace, &policy).await?;
    Ok(CheckedPolicy { policy, warnings })
}

/// Sets the workspace's default reminder policy (for appointments booked from now on).
pub async fn set_policy(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
    input: &PolicyInput,
) -> Result<CheckedPolicy, super::ReminderError> {
    let workspace = super::visible_workspace(pool, caller, workspace).await?;
    let mut tx = pool.begin().await?;
    let base = super::store::customers::policy(&mut tx, &workspace)
        .await?
        .and_then(|value| Policy::from_json(&value))
        .unwrap_or_default();
    let policy = Policy::merge(&base, input, "").map_err(super::ReminderError::Invalid)?;
    super::store::customers::set_policy(&mut tx, &workspace, &policy.json(), &caller.person)
        .await?;
    let entry = crate::security::audit::AuditEntry::now(
        &caller.person,
        "reminder_policy.set",
        format!("workspace:{workspace}"),
        Some(&workspace),
        json!({ "offsets_seconds": policy.offsets, "template": policy.template }),
    );
    crate::security::audit::append(&mut tx, &[entry]).await?;
    let answer = checked(&mut tx, &workspace, policy).await?;
    tx.commit().await?;
    Ok(answer)
}

/// The workspace's default reminder policy.
pub async fn policy(
    pool: &sqlx::PgPool,
    caller: &Caller,
    workspace: &str,
) -> Result<CheckedPolicy, super::ReminderError> {
    let workspace = super::visible_workspace(pool, caller, workspace).await?;
    let mut conn = pool.acquire().await?;
    let policy = super::store::customers::policy(&mut conn, &workspace)
        .await?
        .and_then(|value| Policy::from_json(&value))
        .unwrap_or_default();
    checked(&mut conn, &workspace, policy).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_keeps_what_is_left_out_and_names_each_bad_field() {
        let input = PolicyInput {
            offsets: Some(vec!["2h".into(), "1d".into()]),
            quiet_hours: Some(None),
            ..PolicyInput::default()
        };
        let policy = Policy::merge(&Policy::default(), &input, "").unwrap();
        assert_eq!(policy.offsets, [86400, 7200]);
        assert_eq!(policy.template, DEFAULT_TEMPLATE);
        assert_eq!(policy.quiet_hours, None);
        assert_eq!(Policy::from_json(&policy.json()), Some(policy));
        let bad = PolicyInput {
            offsets: Some(vec!["10s".into(), "soon".into()]),
            template: Some("Reminder!".into()),
            quiet_hours: Some(Some(("21:00".into(), "21:00".into()))),
            ..PolicyInput::default()
        };
        let problems = Policy::merge(&Policy::default(), &bad, "/reminders").unwrap_err();
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/reminders/offsets/0",
                "/reminders/offsets/1",
                "/reminders/template",
                "/reminders/quiet_hours"
            ]
        );
    }
}
