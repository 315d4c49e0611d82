//! Narrowing an authority's requested scope to the approved one: the approved scope can
//! never be wider than the requested one on any axis (workspaces, customers, categories,
//! time range) nor than the instrument allows; every problem is named by its field, and
//! what was narrowed is kept as a difference beside both scopes.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::instruments::{Instrument, basis};
use crate::engine::InputProblem;
use crate::lifecycle::data_map::Category;
use crate::lifecycle::holds::normalise_customer;

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

/// A scope as given: names to be checked.
#[derive(Debug, Clone, Default)]
pub struct ScopeInput {
    /// Business accounts.
    pub workspaces: Option<Vec<String>>,
    /// Customers by `wa_id` or phone number.
    pub customers: Option<Vec<String>>,
    /// Data-map category names.
    pub categories: Vec<String>,
    /// Records from.
    pub from: Option<DateTime<Utc>>,
    /// Records up to.
    pub to: Option<DateTime<Utc>>,
}

impl Scope {
    /// Checks `input`, answering the scope or every problem at its field under `base`
    /// (`/requested_scope`, `/approved_scope`). Customers are kept as `wa_id`s.
    pub fn parse(input: &ScopeInput, base: &str) -> Result<Scope, Vec<InputProblem>> {
        let mut problems = Vec::new();
        let mut categories = Vec::new();
        if input.categories.is_empty() {
            problems.push(at(
                format!("{base}/categories"),
                "name at least one category",
            ));
        }
        for (index, name) in input.categories.iter().enumerate() {
            match Category::parse(name) {
                Some(category) if !categories.contains(&category) => categories.push(category),
                Some(_) => {}
                None => problems.push(at(
                    format!("{base}/categories/{index}"),
                    format!(
                        "unknown category `{name}`; categories are {}",
                        Category::names()
                    ),
                )),
            }
        }
        let customers = input.customers.as_ref().map(|customers| {
            customers
                .iter()
                .enumerate()
                .filter_map(|(index, text)| {
                    let wa_id = normalise_customer(text);
                    if wa_id.is_none() {
                        problems.push(at(
                            format!("{base}/customers/{index}"),
                            "not a WhatsApp id or phone number (6 to 15 digits, optionally with +)",
                        ));
                    }
                    wa_id
                })
                .collect::<Vec<_>>()
        });
        for (name, list) in [
            ("workspaces", &input.workspaces),
            ("customers", &input.customers),
        ] {
            if list.as_ref().is_some_and(Vec::is_empty) {
                problems.push(at(
                    format!("{base}/{name}"),
                    format!("an empty list of {name} names nothing; leave it out or name some"),
                ));
            }
        }
        if input.workspaces.is_none() && input.customers.is_none() {
            problems.push(at(
                format!("{base}/workspaces"),
                "name the workspaces or the customers the request concerns: a scope of everyone is never produced",
            ));
        }
        if let (Some(from), Some(to)) = (input.from, input.to)
            && from > to
        {
            problems.push(at(format!("{base}/from"), "`from` is after `to`"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Scope {
            workspaces: input.workspaces.clone(),
            customers,
            categories,
            from: input.from,
            to: input.to,
        })
    }

    /// The stored and wire form.
    pub fn json(&self) -> Value {
        json!({
            "workspaces": self.workspaces,
            "customers": self.customers,
            "categories": self.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "from": self.from,
            "to": self.to,
        })
    }

    /// Reads the stored form back.
    pub fn from_json(value: &Value) -> Option<Scope> {
        let list = |key: &str| -> Option<Vec<String>> {
            value[key].as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let instant = |key: &str| -> Option<DateTime<Utc>> {
            value[key]
                .as_str()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .map(|at| at.with_timezone(&Utc))
        };
        Some(Scope {
            workspaces: list("workspaces"),
            customers: list("customers"),
            categories: list("categories")?
                .iter()
                .map(|name| Category::parse(name))
                .collect::<Option<Vec<_>>>()?,
            from: instant("from"),
            to: instant("to"),
        })
    }
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
        } else if instrument == Instrument::Preservation {
            // Preserved, not produced: any requested category may be held.
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
        // A subpoena never reaches statuses; a preservation request holds them (it
        // produces nothing, so the instrument's tiers do not apply).
        let statuses = Scope {
            categories: vec![C::MessageStatuses],
            ..requested()
        };
        assert!(narrow(Instrument::Subpoena, &requested(), &statuses).is_err());
        assert!(narrow(Instrument::Preservation, &requested(), &statuses).is_ok());
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
