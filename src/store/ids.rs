//! Ids that cross layers, as types of their own: a run's id cannot be passed where a key's
//! is expected. Each reads from its column through `From` (the query macros call `into`),
//! and binds through [`RunId::uuid`] and the like.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id, time-ordered (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The UUID, to bind in SQL or send on the wire.
            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

uuid_id! {
    /// A workflow run.
    RunId
}

uuid_id! {
    /// An API key (of one person or system).
    KeyId
}

uuid_id! {
    /// A person (staff member or system) holding keys.
    PersonId
}

uuid_id! {
    /// A legal hold.
    HoldId
}

uuid_id! {
    /// A privacy request (deletion, access, disconnect).
    PrivacyRequestId
}

uuid_id! {
    /// A request from a public authority.
    AuthorityRequestId
}

/// A workspace's id: 1 to 100 letters, digits, `_` or `-` (the business's own choice, or
/// `ws_` and a ULID). Parsed once where it enters (a request's path or body); commands take
/// only parsed ids. Reads as a `&str` wherever one is expected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct WorkspaceId(String);

/// Text that cannot be a workspace id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a workspace id: 1 to 100 letters, digits, `_` or `-`")]
pub struct InvalidWorkspaceId(pub String);

/// Longest workspace id.
const MAX_WORKSPACE_ID: usize = 100;

impl WorkspaceId {
    /// The id `text` spells, if it is one.
    pub fn parse(text: &str) -> Result<Self, InvalidWorkspaceId> {
        let valid = !text.is_empty()
            && text.len() <= MAX_WORKSPACE_ID
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidWorkspaceId(text.to_owned()))
        }
    }

    /// A new id: `ws_` and a lowercase ULID.
    pub fn generate() -> Self {
        Self(format!(
            "ws_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for WorkspaceId {
    /// Reads a column: the database holds only ids that were parsed when they entered.
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<WorkspaceId> for String {
    fn from(id: WorkspaceId) -> Self {
        id.0
    }
}

impl std::ops::Deref for WorkspaceId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_id_is_letters_digits_underscores_and_dashes() {
        assert_eq!(
            WorkspaceId::parse("ws_salon-1").unwrap().as_str(),
            "ws_salon-1"
        );
        for bad in ["", "ws demo", "ws/../x", "ws\u{0}", &"x".repeat(101)] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad:?}");
        }
        let generated = WorkspaceId::generate();
        assert!(generated.starts_with("ws_"));
        assert_eq!(WorkspaceId::parse(&generated), Ok(generated.clone()));
    }
}
