//! Narrowing an authority's requested scope to the approved one: the approved scope can
//! never be wider than the requested one on any axis (workspaces, customers, categories,
//! time range) nor than the instrument allows; every problem is named by its field, and
//! what was narrowed is kept as a difference beside both scopes.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::instruments::{Instrument, basis};
use crate::engine::InputProblem;
use crate::lifecycle::data_map::Category;

/// What a request asks for, or what is approved of it. An axis left `None` is not
/// restricted along it (every workspace, every customer, all time).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    /// Business accounts.
    pub workspaces: Option<Vec<String>>,
    /// Customers by `wa_id`.
    pub customers: Option<Vec<String>>,
    /// Data-map categories.
    pub categories: Vec<Category>,
    /// Records from this instant on.
    pub from: Option<DateTime<Utc>>,
    /// Records up to this instant.
    pub to: Option<DateTime<Utc>>,
}

fn at(pointer: String, message: impl Into<String>) -> InputProblem {
    InputProblem {
        pointer,
        message: message.into(),
    }
}

/// Checks that `approved` is within `requested` and what `instrument` allows; answers the
/// difference (what was left out) or every problem, each at its field under
/// `/approved_scope`.
pub fn narrow(
    instrument: Instrument,
    requested: &Scope,
    approved: &Scope,
) -> Result<Value, Vec<InputProblem>> {
    let mut problems = Vec::new();
    let field = |name: &str| format!("/approved_scope/{name}");
    for (name, asked, given) in [
        ("workspaces", &requested.workspaces, &approved.workspaces),
        ("customers", &requested.customers, &approved.customers),
    ] {
        match (asked, given) {
            (Some(_), None) => problems.push(at(
                field(name),
                format!("the request names its {name}: the approved scope must name them too"),
            )),
            (Some(asked), Some(given)) => {
                for (index, item) in given.iter().enumerate() {
                    if !asked.contains(item) {
                        problems.push(at(
                            format!("{}/{index}", field(name)),
                            format!("`{item}` is not in the requested {name}"),
                        ));
                    }
                }
            }
            (None, _) => {}
        }
    }
    if approved.categories.is_empty() {
        problems.push(at(field("categories"), "name at least one category"));
    }
    for (index, category) in approved.categories.iter().enumerate() {
        let pointer = format!("{}/{index}", field("categories"));
        if !requested.categories.contains(category) {
            problems.push(at(
                pointer,
                format!("{} was not requested", category.as_str()),
            ));
        } else if let Err(refusal) = basis(instrument, *category) {
            problems.push(at(pointer, refusal.to_string()));
        }
    }
    if let (Some(asked), given) = (requested.from, approved.from)
        && given.is_none_or(|given| given < asked)
    {
        problems.push(at(
            field("from"),
            format!("the request starts at {asked}: the approved range may not start earlier"),
        ));
    }
    if let (Some(asked), given) = (requested.to, approved.to)
        && given.is_none_or(|given| given > asked)
    {
        problems.push(at(
            field("to"),
            format!("the request ends at {asked}: the approved range may not end later"),
        ));
    }
    if let (Some(from), Some(to)) = (approved.from, approved.to)
        && from > to
    {
        problems.push(at(field("from"), "`from` is after `to`"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let left_out = |asked: &Option<Vec<String>>, given: &Option<Vec<String>>| -> Value {
        match (asked, given) {
            (Some(asked), Some(given)) => {
                json!(
                    asked
                        .iter()
                        .filter(|item| !given.contains(item))
                        .collect::<Vec<_>>()
                )
            }
            (None, Some(given)) => json!({ "narrowed_to": given }),
            _ => json!([]),
        }
    };
    Ok(json!({
        "workspaces": left_out(&requested.workspaces, &approved.workspaces),
        "customers": left_out(&requested.customers, &approved.customers),
        "categories": requested
            .categories
            .iter()
            .filter(|c| !approved.categories.contains(c))
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        "from": { "requested": requested.from, "approved": approved.from },
        "to": { "requested": requested.to, "approved": approved.to },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category as C;

    fn instant(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn requested() -> Scope {
        Scope {
            workspaces: Some(vec!["ws_a".into()]),
            customers: Some(vec!["4915100000001".into(), "4915100000002".into()]),
            categories: vec![C::WorkspaceConfig, C::MessageStatuses, C::InboundMessages],
            from: Some(instant("2026-01-01T00:00:00Z")),
            to: Some(instant("2026-06-30T00:00:00Z")),
        }
    }

    fn pointers(problems: &[InputProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.pointer.as_str()).collect()
    }

    #[test]
    fn a_narrower_scope_is_approved_with_what_was_left_out() {
        let approved = Scope {
            customers: Some(vec!["4915100000001".into()]),
            categories: vec![C::MessageStatuses],
            from: Some(instant("2026-03-01T00:00:00Z")),
            ..requested()
        };
        let diff = narrow(Instrument::CourtOrder, &requested(), &approved).unwrap();
        assert_eq!(diff["customers"], json!(["4915100000002"]));
        assert_eq!(
            diff["categories"],
            json!(["workspace_config", "inbound_messages"])
        );
        assert_eq!(diff["workspaces"], json!([]));
        assert_eq!(diff["from"]["approved"], json!("2026-03-01T00:00:00Z"));
    }

    #[test]
    fn a_wider_scope_or_one_the_instrument_does_not_allow_is_refused_naming_each_field() {
        let wider = Scope {
            workspaces: None,
            customers: Some(vec!["4915100000001".into(), "4915100009999".into()]),
            categories: vec![C::InboundMessages, C::GraphCallRecords, C::MetaCredentials],
            from: Some(instant("2025-12-01T00:00:00Z")),
            to: None,
        };
        let problems = narrow(Instrument::CourtOrder, &requested(), &wider).unwrap_err();
        assert_eq!(
            pointers(&problems),
            [
                "/approved_scope/workspaces",
                "/approved_scope/customers/1",
                "/approved_scope/categories/0",
                "/approved_scope/categories/1",
                "/approved_scope/categories/2",
                "/approved_scope/from",
                "/approved_scope/to",
            ]
        );
        assert!(
            problems[2].message.contains("a court_order reaches"),
            "{problems:?}"
        );
        assert!(problems[3].message.contains("was not requested"));
        // A subpoena never reaches statuses; a preservation request produces nothing.
        let statuses = Scope {
            categories: vec![C::MessageStatuses],
            ..requested()
        };
        assert!(narrow(Instrument::Subpoena, &requested(), &statuses).is_err());
        assert!(narrow(Instrument::Preservation, &requested(), &statuses).is_err());
        let empty = Scope {
            categories: vec![],
            ..requested()
        };
        assert_eq!(
            pointers(&narrow(Instrument::Warrant, &requested(), &empty).unwrap_err()),
            ["/approved_scope/categories"]
        );
    }
}
