//! Requested vs approved scope as a person reads it: one row per axis (workspaces,
//! customers, categories, from, to), each requested item marked kept or left out once a
//! review approved a scope; and the review form's choices (every requested item, ticked
//! by default, so narrowing is unticking).

use serde::Serialize;

use super::page::time;
use crate::authority::scope::Scope;

/// One item of an axis and whether the approved scope keeps it.
#[derive(Debug, Serialize)]
pub struct Item {
    text: String,
    /// `kept`, `left_out`, or `asked` before any review.
    state: &'static str,
}

/// One axis of the diff.
#[derive(Debug, Serialize)]
pub struct Row {
    axis: &'static str,
    /// The requested items; none with `unrestricted` set.
    requested: Vec<Item>,
    /// The approved items the request did not name (an axis the request left open).
    added: Vec<String>,
    /// What the request says when it does not restrict this axis.
    unrestricted: Option<&'static str>,
}

fn state(item: &str, approved: Option<Option<&[String]>>) -> &'static str {
    match approved {
        None => "asked",
        Some(None) => "kept",
        Some(Some(given)) if given.iter().any(|g| g == item) => "kept",
        Some(Some(_)) => "left_out",
    }
}

fn list_row(
    axis: &'static str,
    asked: Option<&[String]>,
    approved: Option<Option<&[String]>>,
    open: &'static str,
) -> Row {
    match asked {
        Some(asked) => Row {
            axis,
            requested: asked
                .iter()
                .map(|item| Item {
                    text: item.clone(),
                    state: state(item, approved),
                })
                .collect(),
            added: Vec::new(),
            unrestricted: None,
        },
        None => Row {
            axis,
            requested: Vec::new(),
            added: approved
                .flatten()
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            unrestricted: Some(open),
        },
    }
}

fn instant_row(
    axis: &'static str,
    asked: Option<chrono::DateTime<chrono::Utc>>,
    approved: Option<Option<chrono::DateTime<chrono::Utc>>>,
    open: &'static str,
) -> Row {
    let asked = asked.map(time);
    let given = approved.map(|at| at.map(time));
    let mut row = list_row(
        axis,
        asked.as_ref().map(std::slice::from_ref),
        given
            .as_ref()
            .map(|at| at.as_ref().map(std::slice::from_ref)),
        open,
    );
    // A narrowed range moves the bound: show the approved one beside the asked one.
    if let (Some(_), Some(Some(given))) = (&asked, given)
        && row.requested.iter().any(|item| item.state == "left_out")
    {
        row.added.push(given);
    }
    row
}

/// The diff, axis by axis; `approved` is `None` until a review approved a scope.
pub fn rows(requested: &Scope, approved: Option<&Scope>) -> Vec<Row> {
    let categories = |scope: &Scope| -> Vec<String> {
        scope
            .categories
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect()
    };
    let asked_categories = categories(requested);
    let given_categories = approved.map(categories);
    vec![
        list_row(
            "Workspaces",
            requested.workspaces.as_deref(),
            approved.map(|a| a.workspaces.as_deref()),
            "not restricted (the customers named, in any workspace)",
        ),
        list_row(
            "Customers",
            requested.customers.as_deref(),
            approved.map(|a| a.customers.as_deref()),
            "not restricted (every customer of the workspaces named)",
        ),
        list_row(
            "Categories",
            Some(&asked_categories),
            given_categories.as_deref().map(Some),
            "",
        ),
        instant_row(
            "From",
            requested.from,
            approved.map(|a| a.from),
            "from the first record",
        ),
        instant_row("To", requested.to, approved.map(|a| a.to), "up to now"),
    ]
}

/// One tickable item of the review form.
#[derive(Debug, Serialize)]
pub struct Choice {
    /// The form field (`workspace.0`, `category.2`).
    name: String,
    text: String,
}

/// The review form's choices: every requested workspace, customer and category, and the
/// requested range to type a narrower one into.
pub fn choices(requested: &Scope) -> serde_json::Value {
    let list = |axis: &str, items: &[String]| -> Vec<Choice> {
        items
            .iter()
            .enumerate()
            .map(|(index, text)| Choice {
                name: format!("{axis}.{index}"),
                text: text.clone(),
            })
            .collect()
    };
    let categories: Vec<String> = requested
        .categories
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    serde_json::json!({
        "workspaces": list("workspace", requested.workspaces.as_deref().unwrap_or_default()),
        "customers": list("customer", requested.customers.as_deref().unwrap_or_default()),
        "categories": list("category", &categories),
        "from": requested.from.map(time),
        "to": requested.to.map(time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::data_map::Category;

    fn scope(workspaces: &[&str], categories: &[Category]) -> Scope {
        Scope {
            workspaces: Some(workspaces.iter().map(|w| (*w).to_owned()).collect()),
            customers: None,
            categories: categories.to_vec(),
            from: None,
            to: None,
        }
    }

    #[test]
    fn a_narrowed_scope_marks_what_was_left_out_and_keeps_the_rest() {
        let requested = scope(
            &["ws_a", "ws_b"],
            &[Category::MessageStatuses, Category::InboundMessages],
        );
        let approved = scope(&["ws_a"], &[Category::MessageStatuses]);
        let rows = rows(&requested, Some(&approved));
        fn states(row: &Row) -> Vec<(&str, &'static str)> {
            row.requested
                .iter()
                .map(|i| (i.text.as_str(), i.state))
                .collect()
        }
        assert_eq!(states(&rows[0]), [("ws_a", "kept"), ("ws_b", "left_out")]);
        assert_eq!(
            states(&rows[2]),
            [
                ("message_statuses", "kept"),
                ("inbound_messages", "left_out")
            ]
        );
        assert!(rows[1].unrestricted.is_some());
    }

    #[test]
    fn before_a_review_every_item_is_only_asked() {
        let requested = scope(&["ws_a"], &[Category::MessageStatuses]);
        let rows = rows(&requested, None);
        assert!(
            rows.iter()
                .flat_map(|r| &r.requested)
                .all(|i| i.state == "asked")
        );
    }
}
