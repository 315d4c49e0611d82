//! The five roles and the authenticated caller a request acts as.

use std::fmt;
use std::str::FromStr;

use crate::store::ids::{KeyId, PersonId, WorkspaceId};

/// What a key may do. The role x endpoint matrix is in docs/SECURITY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Manages keys and everything else; not an approver unless a step names the role.
    Admin,
    /// A system integrating with the API: starts runs, posts events, reads runs.
    Integrator,
    /// Compliance staff deciding approval steps.
    ComplianceOfficer,
    /// Senior compliance staff: decides the steps that need a lead, cancels runs.
    ComplianceLead,
    /// Reads runs and the audit ledger; changes nothing.
    Auditor,
}

impl Role {
    /// Whether holding the role lets a person approve what others do (decide approval
    /// steps, or administer who may): a key of such a role made over the API works only
    /// once a second admin approved it.
    pub fn approves(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::ComplianceOfficer | Role::ComplianceLead
        )
    }

    /// Every role, in the order documentation lists them.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Integrator,
        Role::ComplianceOfficer,
        Role::ComplianceLead,
        Role::Auditor,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Integrator => "integrator",
            Role::ComplianceOfficer => "compliance_officer",
            Role::ComplianceLead => "compliance_lead",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the five.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role `{0}`; roles are admin, integrator, compliance_officer, compliance_lead, auditor"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

/// The key a request authenticated with, and the person it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Key id.
    pub key_id: KeyId,
    /// Key name.
    pub key_name: String,
    /// The person the key belongs to.
    pub person_id: PersonId,
    /// That person's handle: the actor recorded in history and the audit ledger, and what
    /// separation of duties compares (whichever of the person's keys acted).
    pub person: String,
    /// Role.
    pub role: Role,
    /// The only workspace the key may see; `None` for every workspace.
    pub workspace_id: Option<WorkspaceId>,
}

impl Caller {
    /// Whether the caller holds one of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
