//! Retention policies: how long each data category is kept, per workspace status
//! (`active` covers every status but `closed`). Each category the sweep purges has a
//! documented default with its reason and a minimum no policy may go below; overrides are
//! set by compliance leads (`PUT /v1/retention/policies`), each change audited with the
//! value it replaced. Categories the sweep never purges (the audit ledger among them)
//! take no policy at all, so no policy can make the ledger lose an entry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::data_map::Category;
use super::store;
use super::store::policies::PolicyRow;
use crate::engine::InputProblem;
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};

const DAY: u64 = 86_400;

/// A workspace status a policy is set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceStatus {
    /// Any workspace that is not closed (and records of no workspace).
    Active,
    /// A closed workspace.
    Closed,
}

impl WorkspaceStatus {
    /// Both, in documentation order.
    pub const ALL: [WorkspaceStatus; 2] = [WorkspaceStatus::Active, WorkspaceStatus::Closed];

    /// Wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceStatus::Active => "active",
            WorkspaceStatus::Closed => "closed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

/// The default retention of a category the sweep purges.
#[derive(Debug, Clone, Copy)]
pub struct Default {
    /// Category.
    pub category: Category,
    /// Kept this long while the workspace is not closed (`None`: for good).
    pub active: Option<Duration>,
    /// Kept this long once it is closed.
    pub closed: Option<Duration>,
    /// No policy may be shorter.
    pub minimum: Duration,
    /// Why these durations.
    pub reason: &'static str,
}

const fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY)
}

/// The defaults, with their reasons (docs/DATA.md lists them).
pub const DEFAULTS: &[Default] = &[
    Default {
        category: Category::GraphCallRecords,
        active: Some(days(90)),
        closed: Some(days(30)),
        minimum: days(7),
        reason: "diagnosing Meta API errors and rate limits needs weeks of history; the records hold ids and codes only",
    },
    Default {
        category: Category::WebhookPayloads,
        active: Some(days(30)),
        closed: Some(days(7)),
        minimum: days(1),
        reason: "raw deliveries are kept only to reprocess or investigate them; what they say lives on as statuses and messages",
    },
    Default {
        category: Category::MessageStatuses,
        active: Some(days(180)),
        closed: Some(days(30)),
        minimum: days(7),
        reason: "delivery evidence a business needs for its own records and disputes",
    },
    Default {
        category: Category::InboundMessages,
        active: Some(days(180)),
        closed: Some(days(30)),
        minimum: days(1),
        reason: "customers' messages are the business's conversation records, kept while it works with them and briefly after it leaves",
    },
    Default {
        category: Category::TemplateRecords,
        active: Some(days(365)),
        closed: Some(days(90)),
        minimum: days(30),
        reason: "a template's review history explains its current status; the template itself is kept while the workspace is",
    },
    Default {
        category: Category::RunRecords,
        active: Some(days(365)),
        closed: Some(days(90)),
        minimum: days(30),
        reason: "finished runs show what the workflows did (approvals, disclosures); a year covers an annual audit; the ledger keeps the decisions for good",
    },
];

/// Why a category takes no retention policy.
pub fn not_swept(category: Category) -> Option<&'static str> {
    match category {
        Category::AuditEvents => Some(
            "the audit ledger is never purged: it is append-only and hash-chained, and holds ids and hashes only",
        ),
        Category::StaffAccess => {
            Some("keys and people are the actors of the ledger; revoked keys are kept as a record")
        }
        Category::EngineState => Some("the engine's own state is kept while it runs"),
        Category::LegalRecords => {
            Some("holds, policies and sweep reports are the proof of control")
        }
        Category::PrivacyRecords => Some(
            "a request's record is the proof it was answered lawfully; a completed deletion erases the subject from it",
        ),
        Category::WorkspaceConfig => Some(
            "a workspace is kept while it exists; closing it destroys its token, and erasure anonymises it",
        ),
        Category::MetaCredentials => Some(
            "onboarding codes and PINs are deleted when their onboarding ends (and swept every few seconds)",
        ),
        Category::CustomerRecords => Some(
            "a business's customers, their consent and appointments are kept while the workspace is: the business's own records; erasure removes them (a customer's deletion request, or the business's)",
        ),
        _ => None,
    }
}

/// The default of a category the sweep purges.
pub fn default_of(category: Category) -> Option<&'static Default> {
    DEFAULTS.iter().find(|default| default.category == category)
}

/// A policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Category.
    pub category: Category,
    /// Workspace status.
    pub workspace_status: WorkspaceStatus,
    /// How long (`None`: for good).
    pub keep: Option<Duration>,
    /// The minimum.
    pub minimum: Duration,
    /// Why.
    pub reason: String,
    /// `default` or `set`.
    pub source: &'static str,
    /// Who set it (a set policy).
    pub updated_by: Option<String>,
    /// When.
    pub updated_at: Option<DateTime<Utc>>,
}

fn seconds(duration: Option<Duration>) -> Option<i64> {
    duration.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn in_force(rows: &[PolicyRow]) -> Vec<Policy> {
    let mut policies = Vec::new();
    for default in DEFAULTS {
        for status in WorkspaceStatus::ALL {
            let row = rows.iter().find(|row| {
                row.category == default.category.as_str() && row.workspace_status == status.as_str()
            });
            policies.push(match row {
                Some(row) => Policy {
                    category: default.category,
                    workspace_status: status,
                    keep: row
                        .keep_seconds
                        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0))),
                    minimum: default.minimum,
                    reason: row.reason.clone(),
                    source: "set",
                    updated_by: Some(row.updated_by.clone()),
                    updated_at: Some(row.updated_at),
                },
                None => Policy {
                    category: default.category,
                    workspace_status: status,
                    keep: match status {
                        WorkspaceStatus::Active => default.active,
                        WorkspaceStatus::Closed => default.closed,
                    },
                    minimum: default.minimum,
                    reason: default.reason.to_owned(),
                    source: "default",
                    updated_by: None,
                    updated_at: None,
                },
            });
        }
    }
    policies
}

/// Every policy in force: one per swept category and workspace status.
pub async fn policies(pool: &PgPool) -> sqlx::Result<Vec<Policy>> {
    let mut conn = pool.acquire().await?;
    Ok(in_force(&store::policies::list(&mut conn).await?))
}

/// A policy change asked for.
#[derive(Debug, Clone)]
pub struct PolicyChange {
    /// Category name.
    pub category: String,
    /// Workspace status name.
    pub workspace_status: String,
    /// Duration text such as `30d` (`None`: keep for good).
    pub keep_for: Option<String>,
    /// Why.
    pub reason: String,
}

/// Why a policy change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The caller may not change policies.
    #[error("{0}")]
    Confined(&'static str),
    /// A change breaks a rule; every problem, located.
    #[error("invalid retention policies")]
    Invalid(Vec<InputProblem>),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn problem(index: usize, field: &str, message: String) -> InputProblem {
    InputProblem {
        pointer: format!("/policies/{index}/{field}"),
        message,
    }
}

/// A valid change: category, workspace status, duration (`None`: for good).
type ParsedChange = (Category, WorkspaceStatus, Option<Duration>);

/// Checks every change; the valid ones, parsed, or every problem.
fn validate(changes: &[PolicyChange]) -> Result<Vec<ParsedChange>, Vec<InputProblem>> {
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    if changes.is_empty() {
        problems.push(InputProblem {
            pointer: "/policies".into(),
            message: "name at least one policy to set".into(),
        });
    }
    for (index, change) in changes.iter().enumerate() {
        let Some(category) = Category::parse(&change.category) else {
            problems.push(problem(
                index,
                "category",
                format!(
                    "unknown category `{}`; categories are {}",
                    change.category,
                    Category::names()
                ),
            ));
            continue;
        };
        let Some(default) = default_of(category) else {
            let why = not_swept(category).unwrap_or("it is not swept");
            problems.push(problem(
                index,
                "category",
                format!("`{}` takes no retention policy: {why}", category.as_str()),
            ));
            continue;
        };
        let Some(status) = WorkspaceStatus::parse(&change.workspace_status) else {
            problems.push(problem(
                index,
                "workspace_status",
                format!(
                    "unknown workspace status `{}`; use active or closed",
                    change.workspace_status
                ),
            ));
            continue;
        };
        let keep = match change.keep_for.as_deref() {
            None => None,
            Some(text) => match crate::duration::parse_duration(text) {
                Ok(keep) if keep < default.minimum => {
                    problems.push(problem(
                        index,
                        "keep_for",
                        format!(
                            "{text} is shorter than the minimum of {} days for `{}`",
                            default.minimum.as_secs() / DAY,
                            category.as_str()
                        ),
                    ));
                    continue;
                }
                Ok(keep) => Some(keep),
                Err(message) => {
                    problems.push(problem(index, "keep_for", message));
                    continue;
                }
            },
        };
        if parsed
            .iter()
            .any(|(c, s, _)| *c == category && *s == status)
        {
            problems.push(problem(
                index,
                "category",
                format!(
                    "`{}` for {} workspaces is named twice",
                    category.as_str(),
                    status.as_str()
                ),
            ));
            continue;
        }
        parsed.push((category, status, keep));
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

/// Sets policies, all or none; each change audited with the value it replaced. Only an
/// unconfined compliance lead may (the permission is checked by the caller's API).
pub async fn set(
    pool: &PgPool,
    caller: &Caller,
    changes: &[PolicyChange],
) -> Result<Vec<Policy>, PolicyError> {
    if caller.workspace_id.is_some() {
        return Err(PolicyError::Confined(
            "retention policies apply to every workspace; a key confined to one cannot set them",
        ));
    }
    let parsed = validate(changes).map_err(PolicyError::Invalid)?;
    let mut tx = pool.begin().await?;
    let before = in_force(&store::policies::lock_all(&mut tx).await?);
    let mut entries = Vec::new();
    for ((category, status, keep), change) in parsed.iter().zip(changes) {
        let old = before
            .iter()
            .find(|p| p.category == *category && p.workspace_status == *status);
        store::policies::upsert(
            &mut tx,
            category.as_str(),
            status.as_str(),
            seconds(*keep),
            &change.reason,
            &caller.person,
        )
        .await?;
        entries.push(AuditEntry::now(
            &caller.person,
            "retention_policy.changed",
            format!("retention_policy:{}:{}", category.as_str(), status.as_str()),
            None,
            json!({
                "category": category.as_str(),
                "workspace_status": status.as_str(),
                "old": {
                    "keep_seconds": old.and_then(|p| seconds(p.keep)),
                    "source": old.map(|p| p.source),
                },
                "new": { "keep_seconds": seconds(*keep) },
            }),
        ));
    }
    audit::append(&mut tx, &entries).await?;
    let after = in_force(&store::policies::list(&mut tx).await?);
    tx.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(category: &str, status: &str, keep: Option<&str>) -> PolicyChange {
        PolicyChange {
            category: category.into(),
            workspace_status: status.into(),
            keep_for: keep.map(str::to_owned),
            reason: "contract".into(),
        }
    }

    #[test]
    fn every_swept_category_has_a_default_within_its_minimum() {
        for default in DEFAULTS {
            for keep in [default.active, default.closed].into_iter().flatten() {
                assert!(keep >= default.minimum, "{:?}", default.category);
            }
            assert!(not_swept(default.category).is_none());
        }
        for category in Category::ALL {
            assert!(
                default_of(category).is_some() != not_swept(category).is_some(),
                "{} needs a default or a reason it is not swept",
                category.as_str()
            );
        }
    }

    #[test]
    fn each_bad_change_is_located() {
        let bad = [
            change("nonsense", "active", Some("30d")),
            change("audit_events", "active", Some("30d")),
            change("graph_call_records", "open", Some("30d")),
            change("graph_call_records", "active", Some("1d")),
            change("graph_call_records", "closed", Some("soon")),
        ];
        let problems = validate(&bad).unwrap_err();
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/policies/0/category",
                "/policies/1/category",
                "/policies/2/workspace_status",
                "/policies/3/keep_for",
                "/policies/4/keep_for"
            ]
        );
        assert!(problems[1].message.contains("never purged"));
        let twice = [
            change("run_records", "closed", Some("90d")),
            change("run_records", "closed", None),
        ];
        assert_eq!(
            validate(&twice).unwrap_err()[0].pointer,
            "/policies/1/category"
        );
        assert_eq!(
            validate(&[change("run_records", "closed", None)])
                .unwrap()
                .len(),
            1
        );
    }
}
