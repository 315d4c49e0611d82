//! The one workspace-visibility rule, used by every resource: a key confined to a
//! workspace sees that workspace's records and nothing else (not even records that belong
//! to no workspace); an unconfined key sees everything. For a confined key a record of
//! another workspace does not exist: commands answer "not found", lists leave it out.

use super::roles::Caller;

/// A record that belongs to a workspace (or to none).
pub trait InWorkspace {
    /// The workspace it belongs to.
    fn workspace(&self) -> Option<&str>;
}

/// Which workspaces a list may show a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Every workspace's records (an unconfined key that named none).
    All,
    /// This workspace's records only.
    Workspace(String),
    /// Nothing: a confined key asked for another workspace.
    Nothing,
}

/// The rule itself: whether a record of `workspace` is visible to a key confined to
/// `scope` (`None`: unconfined, such as the command line).
pub fn visible_in(scope: Option<&str>, workspace: Option<&str>) -> bool {
    match scope {
        None => true,
        Some(own) => workspace == Some(own),
    }
}

impl Caller {
    /// Whether a record of `workspace` is visible to the caller.
    pub fn sees(&self, workspace: Option<&str>) -> bool {
        visible_in(self.workspace_id.as_deref(), workspace)
    }

    /// The record if the caller may see it, else `None` (which callers answer as "not
    /// found", exactly as for a record that does not exist).
    pub fn visible<T: InWorkspace>(&self, record: Option<T>) -> Option<T> {
        record.filter(|record| self.sees(record.workspace()))
    }

    /// The workspace a record the caller creates goes into: the one it named if it may
    /// see it, a confined key's own when it named none. `Err` carries the named workspace
    /// the caller may not see (answered as "not found").
    pub fn target_workspace(&self, asked: Option<String>) -> Result<Option<String>, String> {
        match (&self.workspace_id, asked) {
            (Some(own), None) => Ok(Some(own.to_string())),
            (_, asked) if self.sees(asked.as_deref()) => Ok(asked),
            (_, asked) => Err(asked.unwrap_or_default()),
        }
    }

    /// What a list filtered by `asked` (a workspace id, or none) may show the caller.
    pub fn list_scope(&self, asked: Option<&str>) -> ListScope {
        match (&self.workspace_id, asked) {
            (None, None) => ListScope::All,
            (None, Some(asked)) => ListScope::Workspace(asked.to_owned()),
            (Some(own), Some(asked)) if own.as_str() != asked => ListScope::Nothing,
            (Some(own), _) => ListScope::Workspace(own.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::Role;

    struct Record(Option<&'static str>);
    impl InWorkspace for Record {
        fn workspace(&self) -> Option<&str> {
            self.0
        }
    }

    fn caller(workspace: Option<&str>) -> Caller {
        Caller {
            key_id: crate::store::ids::KeyId::from(uuid::Uuid::nil()),
            key_name: "k".into(),
            person_id: crate::store::ids::PersonId::from(uuid::Uuid::nil()),
            person: "k".into(),
            role: Role::Integrator,
            workspace_id: workspace.map(|id| crate::store::ids::WorkspaceId::parse(id).unwrap()),
        }
    }

    #[test]
    fn a_confined_key_sees_its_workspace_only() {
        let confined = caller(Some("ws_a"));
        assert!(confined.visible(Some(Record(Some("ws_a")))).is_some());
        assert!(confined.visible(Some(Record(Some("ws_b")))).is_none());
        assert!(confined.visible(Some(Record(None))).is_none());
        let unconfined = caller(None);
        assert!(unconfined.visible(Some(Record(Some("ws_b")))).is_some());
        assert!(unconfined.visible(Some(Record(None))).is_some());
    }

    #[test]
    fn a_confined_key_creates_in_its_own_workspace_only() {
        let confined = caller(Some("ws_a"));
        assert_eq!(confined.target_workspace(None), Ok(Some("ws_a".into())));
        assert_eq!(
            confined.target_workspace(Some("ws_a".into())),
            Ok(Some("ws_a".into()))
        );
        assert_eq!(
            confined.target_workspace(Some("ws_b".into())),
            Err("ws_b".into())
        );
        assert_eq!(caller(None).target_workspace(None), Ok(None));
    }

    #[test]
    fn a_list_for_another_workspace_is_empty_for_a_confined_key() {
        let confined = caller(Some("ws_a"));
        assert_eq!(confined.list_scope(Some("ws_b")), ListScope::Nothing);
        assert_eq!(
            confined.list_scope(None),
            ListScope::Workspace("ws_a".into())
        );
        assert_eq!(caller(None).list_scope(None), ListScope::All);
        assert_eq!(
            caller(None).list_scope(Some("ws_b")),
            ListScope::Workspace("ws_b".into())
        );
    }
}
