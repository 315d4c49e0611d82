//! What each role may do: one list of permissions, each naming the roles that hold it.
//! The API and the console ask for a permission, never for roles; docs/SECURITY.md's
//! role x endpoint matrix is checked against the server by a test.
//!
//! Approval steps are not here: who may decide one is the step's own `roles` and the
//! engine's approval policy (src/engine/policy.rs).

use super::roles::{Caller, Role};

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Start runs, on behalf of a system or a person.
    StartRuns,
    /// Cancel a run that has not finished.
    CancelRuns,
    /// Post events to runs.
    SendEvents,
    /// Create workspaces, start their onboarding, submit their templates.
    ManageWorkspaces,
    /// Close a workspace (deletes its Meta token).
    CloseWorkspaces,
    /// Read the audit ledger, verify it, read its head.
    ReadAudit,
    /// Create, list and revoke API keys.
    ManageKeys,
    /// Read legal holds, retention policies and sweep reports.
    ReadLifecycle,
    /// Place and renew legal holds, and ask for their release.
    PlaceHolds,
    /// Change retention policies.
    SetRetention,
    /// File privacy requests (deletion, access, disconnect).
    FilePrivacyRequests,
    /// Read privacy requests and their timelines.
    ReadPrivacyRequests,
    /// Review and approve or deny privacy requests, and extend their deadlines.
    DecidePrivacyRequests,
    /// File authority requests and record their clarifications and renewals.
    FileAuthorityRequests,
    /// Read authority requests, their timelines, packages and notices.
    ReadAuthorityRequests,
    /// Review authority requests, approve disclosures, post-review emergencies.
    DecideAuthorityRequests,
    /// Take out evidence bundles of privacy and authority requests.
    ReadEvidence,
    /// Read the transparency report.
    ReadTransparency,
    /// Read the notices sent to businesses about disclosures of their data.
    ReadNotices,
    /// Register customers and their consent, book, move and cancel appointments, set the
    /// reminder policy.
    ManageAppointments,
    /// Read customers, appointments and their reminders.
    ReadAppointments,
}

impl Permission {
    /// The roles holding this permission.
    pub const fn roles(self) -> &'static [Role] {
        match self {
            // Everyone but auditors, who change nothing.
            Permission::StartRuns => &[
                Role::Admin,
                Role::Integrator,
                Role::ComplianceOfficer,
                Role::ComplianceLead,
            ],
            Permission::CancelRuns => &[Role::Admin, Role::Integrator, Role::ComplianceLead],
            Permission::SendEvents => &[Role::Admin, Role::Integrator],
            Permission::ManageWorkspaces => &[Role::Admin, Role::Integrator],
            Permission::CloseWorkspaces => &[Role::Admin],
            Permission::ReadAudit => &[Role::Admin, Role::Auditor],
            Permission::ManageKeys => &[Role::Admin],
            Permission::ReadLifecycle => &[
                Role::Admin,
                Role::ComplianceOfficer,
                Role::ComplianceLead,
                Role::Auditor,
            ],
            Permission::PlaceHolds => &[Role::ComplianceOfficer, Role::ComplianceLead],
            // Retention is a compliance decision, not an operator's: leads only.
            Permission::SetRetention => &[Role::ComplianceLead],
            // A business files through its own (workspace-scoped) key; staff file for
            // requesters who wrote in.
            Permission::FilePrivacyRequests => &[
                Role::Admin,
                Role::Integrator,
                Role::ComplianceOfficer,
                Role::ComplianceLead,
            ],
            Permission::ReadPrivacyRequests => &[
                Role::Admin,
                Role::Integrator,
                Role::ComplianceOfficer,
                Role::ComplianceLead,
                Role::Auditor,
            ],
            // Which of them decides which step is the workflow's approval policy.
            Permission::DecidePrivacyRequests => &[Role::ComplianceOfficer, Role::ComplianceLead],
            // Legal process is compliance staff's alone: not operators, not integrators.
            Permission::FileAuthorityRequests => &[Role::ComplianceOfficer, Role::ComplianceLead],
            Permission::ReadAuthorityRequests => {
                &[Role::ComplianceOfficer, Role::ComplianceLead, Role::Auditor]
            }
            Permission::DecideAuthorityRequests => &[Role::ComplianceOfficer, Role::ComplianceLead],
            Permission::ReadEvidence => {
                &[Role::ComplianceOfficer, Role::ComplianceLead, Role::Auditor]
            }
            Permission::ReadTransparency => &[
                Role::Admin,
                Role::ComplianceOfficer,
                Role::ComplianceLead,
                Role::Auditor,
            ],
            // A business reads its own notices through its own key, whatever its role.
            Permission::ReadNotices => &Role::ALL,
            // The business's systems and its operators book; compliance reads.
            Permission::ManageAppointments => &[Role::Admin, Role::Integrator],
            Permission::ReadAppointments => &Role::ALL,
        }
    }
}

/// A caller lacking a permission; the message names the roles that hold it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this operation needs one of the roles {roles}; key `{key}` holds {held}")]
pub struct Forbidden {
    /// The roles that would do, comma-separated.
    pub roles: String,
    /// The caller's key name.
    pub key: String,
    /// The caller's role.
    pub held: Role,
}

impl Caller {
    /// Whether the caller holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.has_any(permission.roles())
    }

    /// `Forbidden` unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<&Caller, Forbidden> {
        if self.may(permission) {
            return Ok(self);
        }
        let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
        Err(Forbidden {
            roles: roles.join(", "),
            key: self.key_name.clone(),
            held: self.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditors_change_nothing_and_only_admins_manage_keys() {
        let caller = |role| Caller {
            key_id: crate::store::ids::KeyId::from(uuid::Uuid::nil()),
            key_name: "k".into(),
            person_id: crate::store::ids::PersonId::from(uuid::Uuid::nil()),
            person: "k".into(),
            role,
            workspace_id: None,
        };
        let auditor = caller(Role::Auditor);
        assert!(auditor.may(Permission::ReadAudit));
        for change in [
            Permission::StartRuns,
            Permission::CancelRuns,
            Permission::SendEvents,
            Permission::ManageWorkspaces,
            Permission::CloseWorkspaces,
            Permission::ManageKeys,
        ] {
            assert!(!auditor.may(change), "{change:?}");
        }
        let refusal = caller(Role::Integrator)
            .require(Permission::ManageKeys)
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "this operation needs one of the roles admin; key `k` holds integrator"
        );
    }
}
