//! Who may do what: roles and the authenticated caller, API key tokens, and the
//! hash-chained audit ledger.

pub mod audit;
pub mod keys;
pub mod roles;
pub mod secret_box;
pub mod tokens;

pub use roles::{Caller, Role};
