//! Evidence an auditor can check without trusting the database: request timelines bound
//! to the audit ledger ([`timeline`]), one-file bundles of a request's record, timeline,
//! decisions, scopes, package manifest and ledger entries with the chain links to check
//! them ([`bundle`]), and the offline check of a bundle ([`verify`]). The format is in
//! docs/EVIDENCE.md.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::security::audit::canonical_json;

pub mod bundle;
pub mod timeline;
pub mod verify;

/// The bundle format, named in every bundle.
pub const FORMAT: &str = "bazaarstreet-evidence/1";

/// SHA-256 (hex) of a record's canonical JSON (sorted keys, no whitespace): what the
/// ledger holds of a timeline entry or a package manifest.
pub fn record_digest(record: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(record).as_bytes()))
}
