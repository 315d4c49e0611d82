//! The minimal disclosure package: the approved scope's records and nothing else, read
//! through the export engine ([`crate::lifecycle::erasure::export_between`]) subject by
//! subject (each approved workspace, or each approved customer within them), only the
//! approved categories and time range. One file per category (rows sorted by their
//! canonical form, so the same records make the same bytes), and a manifest with each
//! file's SHA-256; the package's hash is the manifest's ([`crate::evidence::record_digest`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::scope::Scope;
use super::store::requests::RequestRow;
use crate::evidence::record_digest;
use crate::lifecycle::erasure::{self, Subject};
use crate::security::audit::canonical_json;

/// The package format, named in every manifest.
pub const FORMAT: &str = "bazaarstreet-authority-package/1";

/// A built package.
#[derive(Debug, Clone)]
pub struct Package {
    /// What it holds, with each file's SHA-256.
    pub manifest: Value,
    /// The manifest's SHA-256.
    pub sha256: String,
    /// `{file name: content}`.
    pub files: Value,
    /// The workspaces whose records it holds (the businesses to notify).
    pub workspaces: Vec<String>,
}

/// The subjects an approved scope names.
fn subjects(scope: &Scope) -> Vec<Subject> {
    match (&scope.workspaces, &scope.customers) {
        (Some(workspaces), Some(customers)) => workspaces
            .iter()
            .flat_map(|workspace| {
                customers.iter().map(|wa_id| Subject::Customer {
                    workspace_id: Some(workspace.clone()),
                    wa_id: wa_id.clone(),
                })
            })
            .collect(),
        (Some(workspaces), None) => workspaces.iter().cloned().map(Subject::Workspace).collect(),
        (None, Some(customers)) => customers
            .iter()
            .map(|wa_id| Subject::Customer {
                workspace_id: None,
                wa_id: wa_id.clone(),
            })
            .collect(),
        (None, None) => Vec::new(),
    }
}

/// Builds the package of `row`'s approved scope.
pub async fn build(pool: &sqlx::PgPool, row: &RequestRow, scope: &Scope) -> sqlx::Result<Package> {
    // category -> table -> rows (by canonical form: one row found through two subjects
    // is one row).
    let mut found: BTreeMap<&str, BTreeMap<&str, BTreeMap<String, Value>>> = BTreeMap::new();
    let mut workspaces = BTreeSet::new();
    for subject in subjects(scope) {
        let parts = erasure::export_between(
            pool,
            &subject,
            Some(&scope.categories),
            (scope.from, scope.to),
        )
        .await?;
        for part in parts {
            let tables = found.entry(part.receipt.category.as_str()).or_default();
            let rows = tables.entry(part.receipt.table).or_default();
            for record in part.rows {
                if let Some(workspace) = record["workspace_id"].as_str() {
                    workspaces.insert(workspace.to_owned());
                }
                if let Subject::Workspace(workspace) = &subject {
                    workspaces.insert(workspace.clone());
                }
                rows.insert(canonical_json(&record), record);
            }
        }
    }
    let mut files = serde_json::Map::new();
    let mut listed = Vec::new();
    for category in &scope.categories {
        let tables: BTreeMap<&str, Vec<&Value>> = found
            .get(category.as_str())
            .map(|tables| {
                tables
                    .iter()
                    .map(|(table, rows)| (*table, rows.values().collect()))
                    .collect()
            })
            .unwrap_or_default();
        let content = serde_json::to_string_pretty(&json!({
            "category": category.as_str(),
            "tables": tables,
        }))
        .expect("JSON values serialise");
        let name = format!("{}.json", category.as_str());
        listed.push(json!({
            "name": name,
            "category": category.as_str(),
            "sha256": hex::encode(Sha256::digest(content.as_bytes())),
            "bytes": content.len(),
            "rows": tables.values().map(Vec::len).sum::<usize>(),
        }));
        files.insert(name, Value::String(content));
    }
    let workspaces: Vec<String> = workspaces.into_iter().collect();
    let manifest = json!({
        "format": FORMAT,
        "request_id": row.id,
        "instrument": row.instrument,
        "reference": row.reference,
        "created_at": Utc::now(),
        "approved_scope": scope.json(),
        "workspaces": workspaces,
        "files": listed,
    });
    Ok(Package {
        sha256: record_digest(&manifest),
        manifest,
        files: Value::Object(files),
        workspaces,
    })
}
