//! Checking a hold as it is asked for: its kind, a scope that names at least one axis,
//! customers normalised to `wa_id`s, categories the data map knows, a time range in order
//! and an expiry in the future; every problem located by its field.

use chrono::{DateTime, Duration as Span, Utc};

use super::{KINDS, NewHold, PRESERVATION_PERIOD_DAYS};
use crate::engine::InputProblem;
use crate::lifecycle::data_map::Category;

/// A customer's `wa_id`: the digits of the number (Meta's form, no `+`).
pub fn normalise_customer(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let digits: String = digits
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    (digits.len() >= 6 && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit()))
        .then_some(digits)
}

fn at(pointer: &str, message: impl Into<String>) -> InputProblem {
    InputProblem {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// The parsed scope of a valid hold: normalised customers, checked categories.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ValidScope {
    pub(super) customers: Option<Vec<String>>,
    pub(super) categories: Option<Vec<String>>,
}

/// Checks a hold as asked at `now`: its scope parsed, or every problem located.
pub(super) fn validate(
    hold: &NewHold,
    now: DateTime<Utc>,
) -> Result<ValidScope, Vec<InputProblem>> {
    let mut problems = Vec::new();
    let scope = &hold.scope;
    if !KINDS.contains(&hold.kind.as_str()) {
        problems.push(at(
            "/kind",
            format!(
                "unknown kind `{}`; kinds are {}",
                hold.kind,
                KINDS.join(", ")
            ),
        ));
    }
    if scope.workspace_id.is_none()
        && scope.customers.is_none()
        && scope.categories.is_none()
        && scope.from.is_none()
        && scope.to.is_none()
    {
        problems.push(at(
            "/scope",
            "an empty scope would hold everything; name a workspace, customers, categories or a time range",
        ));
    }
    let customers = scope.customers.as_ref().map(|list| {
        if list.is_empty() {
            problems.push(at(
                "/scope/customers",
                "name at least one customer, or leave `customers` out",
            ));
        }
        let mut normalised = Vec::new();
        for (i, customer) in list.iter().enumerate() {
            match normalise_customer(customer) {
                Some(wa_id) if !normalised.contains(&wa_id) => normalised.push(wa_id),
                Some(_) => {}
                None => problems.push(at(
                    &format!("/scope/customers/{i}"),
                    "not a WhatsApp id or phone number (6 to 15 digits, optionally with +)",
                )),
            }
        }
        normalised
    });
    let categories = scope.categories.as_ref().map(|list| {
        if list.is_empty() {
            problems.push(at(
                "/scope/categories",
                "name at least one category, or leave `categories` out",
            ));
        }
        let mut known: Vec<String> = Vec::new();
        for (i, name) in list.iter().enumerate() {
            match Category::parse(name) {
                Some(category) if !known.iter().any(|k| k == category.as_str()) => {
                    known.push(category.as_str().to_owned());
                }
                Some(_) => {}
                None => problems.push(at(
                    &format!("/scope/categories/{i}"),
                    format!(
                        "unknown category `{name}`; categories are {}",
                        Category::names()
                    ),
                )),
            }
        }
        known
    });
    if let (Some(from), Some(to)) = (scope.from, scope.to)
        && from > to
    {
        problems.push(at("/scope/from", "`from` is after `to`"));
    }
    if let Some(expires_at) = hold.expires_at {
        if expires_at <= now {
            problems.push(at("/expires_at", "`expires_at` is in the past"));
        } else if hold.kind == "preservation"
            && expires_at > now + Span::days(PRESERVATION_PERIOD_DAYS)
        {
            problems.push(at(
                "/expires_at",
                format!(
                    "a preservation hold lasts at most {PRESERVATION_PERIOD_DAYS} days (renew it once for {PRESERVATION_PERIOD_DAYS} more)"
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(ValidScope {
            customers,
            categories,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::holds::HoldScope;

    fn hold(kind: &str, scope: HoldScope) -> NewHold {
        NewHold {
            kind: kind.into(),
            scope,
            reason: "r".into(),
            matter_ref: "m".into(),
            expires_at: None,
        }
    }

    #[test]
    fn customers_are_normalised_to_wa_ids() {
        assert_eq!(
            normalise_customer("+49 151 2345-6789").as_deref(),
            Some("4915123456789")
        );
        assert_eq!(
            normalise_customer("4915123456789").as_deref(),
            Some("4915123456789")
        );
        assert_eq!(normalise_customer("12345"), None);
        assert_eq!(normalise_customer("49abc"), None);
    }

    #[test]
    fn each_bad_scope_is_located() {
        let now = Utc::now();
        let pointers = |hold: &NewHold| -> Vec<String> {
            validate(hold, now)
                .unwrap_err()
                .into_iter()
                .map(|p| p.pointer)
                .collect()
        };
        assert_eq!(
            pointers(&hold("litigation", HoldScope::default())),
            ["/scope"]
        );
        assert_eq!(
            pointers(&hold(
                "forever",
                HoldScope {
                    categories: Some(vec!["run_records".into()]),
                    ..HoldScope::default()
                }
            )),
            ["/kind"]
        );
        let bad = HoldScope {
            customers: Some(vec!["x".into()]),
            categories: Some(vec!["run_records".into(), "gossip".into()]),
            from: Some(now),
            to: Some(now - Span::days(1)),
            ..HoldScope::default()
        };
        assert_eq!(
            pointers(&hold("litigation", bad)),
            ["/scope/customers/0", "/scope/categories/1", "/scope/from"]
        );
        let mut long = hold(
            "preservation",
            HoldScope {
                workspace_id: Some("ws".into()),
                ..HoldScope::default()
            },
        );
        long.expires_at = Some(now + Span::days(91));
        assert_eq!(pointers(&long), ["/expires_at"]);
        long.kind = "litigation".into();
        assert!(validate(&long, now).is_ok());
    }
}
