//! Who may do what: roles and the authenticated caller, the permissions each role holds,
//! the one workspace-visibility rule, API key tokens, and the hash-chained audit ledger.

pub mod audit;
pub mod keys;
pub mod names;
pub mod people;
pub mod permissions;
pub mod roles;
pub mod secret_box;
pub mod sessions;
pub mod tokens;
pub mod visibility;

pub use crate::store::ids::{KeyId, PersonId};
pub use permissions::{Forbidden, Permission};
pub use roles::{Caller, Role};
pub use visibility::{InWorkspace, ListScope};
