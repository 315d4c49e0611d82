//! Who may decide an approval step: the rules a decision must pass, checked in the
//! decision's transaction. A refusal names the rule that refused it.

use crate::engine::definitions::definition::ApprovalSpec;
use crate::security::Role;

/// A decision the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule: `role`, `not_initiator`, `distinct_from` or `not_named`.
    pub rule: &'static str,
    /// Why, for the caller.
    pub detail: String,
}

/// What the policy knows about one decider and one run.
#[derive(Debug, Clone)]
pub struct Decider<'a> {
    /// Key name.
    pub actor: &'a str,
    /// Its role.
    pub role: Role,
    /// Who started the run.
    pub initiator: &'a str,
    /// Steps of this run the decider has already decided (any visit).
    pub decided_steps: &'a [String],
    /// The run's context, where `not_named_at` paths point.
    pub context: &'a serde_json::Value,
}

/// The people named at `path` in `context`: one handle or a list of them.
fn named_at<'v>(context: &'v serde_json::Value, path: &str) -> Vec<&'v str> {
    match crate::engine::handlers::context::lookup(context, path) {
        Some(serde_json::Value::String(handle)) => vec![handle.as_str()],
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => Vec::new(),
    }
}

/// Checks every rule of `spec` for `decider` deciding `step_id`.
pub fn check(spec: &ApprovalSpec, step_id: &str, decider: &Decider<'_>) -> Result<(), Refusal> {
    if !spec.roles.iter().any(|role| role == decider.role.as_str()) {
        return Err(Refusal {
            rule: "role",
            detail: format!(
                "step `{step_id}` may be decided by {}; `{}` holds role {}",
                spec.roles.join(", "),
                decider.actor,
                decider.role
            ),
        });
    }
    if spec.not_initiator && decider.actor == decider.initiator {
        return Err(Refusal {
            rule: "not_initiator",
            detail: format!(
                "`{}` started this run and may not decide its step `{step_id}`",
                decider.actor
            ),
        });
    }
    if let Some(earlier) = spec
        .distinct_from
        .iter()
        .find(|other| decider.decided_steps.contains(other))
    {
        return Err(Refusal {
            rule: "distinct_from",
            detail: format!(
                "`{}` decided step `{earlier}` of this run and may not also decide `{step_id}`",
                decider.actor
            ),
        });
    }
    if let Some(path) = spec
        .not_named_at
        .iter()
        .find(|path| named_at(decider.context, path).contains(&decider.actor))
    {
        return Err(Refusal {
            rule: "not_named",
            detail: format!(
                "`{}` is named at `{path}` of this run and may not decide its step `{step_id}`",
                decider.actor
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::definitions::definition::Target;

    fn spec() -> ApprovalSpec {
        ApprovalSpec {
            roles: vec!["compliance_officer".into(), "compliance_lead".into()],
            quorum: 1,
            not_initiator: true,
            distinct_from: vec!["first_review".into()],
            not_named_at: vec!["steps.prepare.placed_by".into()],
            expires_after: None,
            on_timeout: Target::Fail,
        }
    }

    static CONTEXT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(
        || serde_json::json!({ "input": {}, "steps": { "prepare": { "placed_by": "placer" } } }),
    );

    fn decider<'a>(actor: &'a str, role: Role, decided: &'a [String]) -> Decider<'a> {
        Decider {
            actor,
            role,
            initiator: "starter",
            decided_steps: decided,
            context: &CONTEXT,
        }
    }

    #[test]
    fn each_rule_refuses_by_name() {
        let none: Vec<String> = vec![];
        let earlier = vec!["first_review".to_owned()];
        let refused = |d: &Decider<'_>| check(&spec(), "second_review", d).err().map(|r| r.rule);
        assert_eq!(
            refused(&decider("bob", Role::Integrator, &none)),
            Some("role")
        );
        assert_eq!(refused(&decider("bob", Role::Admin, &none)), Some("role"));
        assert_eq!(
            refused(&decider("starter", Role::ComplianceOfficer, &none)),
            Some("not_initiator")
        );
        assert_eq!(
            refused(&decider("bob", Role::ComplianceLead, &earlier)),
            Some("distinct_from")
        );
        assert_eq!(
            refused(&decider("placer", Role::ComplianceLead, &none)),
            Some("not_named")
        );
        assert_eq!(
            refused(&decider("bob", Role::ComplianceOfficer, &none)),
            None
        );
    }

    #[test]
    fn initiators_may_decide_when_the_step_allows_it() {
        let mut spec = spec();
        spec.not_initiator = false;
        let none: Vec<String> = vec![];
        assert!(
            check(
                &spec,
                "s",
                &decider("starter", Role::ComplianceOfficer, &none)
            )
            .is_ok()
        );
    }
}
