//! Access requests' export packages: the subject's records from the erasure engine's
//! `export`, one JSON file per data category, and a manifest with each file's SHA-256 and
//! row counts. The requester's channel fetches the package through a link: a random token
//! (shown once, stored as its keyed digest) that works [`FETCHES`] times for
//! [`LINK_DAYS`] days; after that, or [`UNLINKED_DAYS`] days without a link, the files are
//! deleted and only the manifest stays as the record of what was disclosed.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::requests::{PrivacyRequestId, RequestError, RequestRow};
use super::store::{packages as store, requests};
use crate::lifecycle::erasure::{self, Receipt, Subject};
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};
use crate::security::secret_box::SecretBox;

/// How many times a link may be fetched.
pub const FETCHES: i32 = 5;

/// How long a link works.
pub const LINK_DAYS: i64 = 7;

/// How long a package waits for its first link before its files are deleted.
pub const UNLINKED_DAYS: i32 = 30;

/// The package format, named in every manifest.
pub const FORMAT: &str = "bazaarstreet-access-package/1";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Builds and stores the package of `row`'s subject; answers the export receipts and the
/// manifest. Safe to repeat: a repeat replaces the package.
pub async fn build(
    pool: &sqlx::PgPool,
    row: &RequestRow,
    subject: &Subject,
) -> Result<(Vec<Receipt>, Value), RequestError> {
    let parts = erasure::export(pool, subject, None).await?;
    let mut by_category: BTreeMap<&str, BTreeMap<&str, &Vec<Value>>> = BTreeMap::new();
    for part in &parts {
        by_category
            .entry(part.receipt.category.as_str())
            .or_default()
            .insert(part.receipt.table, &part.rows);
    }
    let mut files = serde_json::Map::new();
    let mut listed = Vec::new();
    for (category, tables) in &by_category {
        let content = serde_json::to_string_pretty(&json!({
            "category": category,
            "tables": tables,
        }))
        .expect("JSON values serialise");
        let name = format!("{category}.json");
        listed.push(json!({
            "name": name,
            "sha256": sha256_hex(content.as_bytes()),
            "bytes": content.len(),
            "rows": tables.values().map(|rows| rows.len()).sum::<usize>(),
        }));
        files.insert(name, Value::String(content));
    }
    let manifest = json!({
        "format": FORMAT,
        "request_id": row.id,
        "created_at": Utc::now(),
        "subject": {
            "workspace_id": row.workspace_id,
            "customer_sha256": row.customer_sha256,
        },
        "files": listed,
    });
    let mut conn = pool.acquire().await?;
    let workspace = row.workspace_id.as_deref().ok_or_else(|| {
        RequestError::Conflict(
            "no-workspace",
            format!("privacy request {} names no business account", row.id),
        )
    })?;
    store::put(
        &mut conn,
        row.id,
        workspace,
        row.customer.as_deref(),
        &manifest,
        &Value::Object(files),
    )
    .await?;
    Ok((
        parts.into_iter().map(|part| part.receipt).collect(),
        manifest,
    ))
}

/// A link to a package, shown once.
#[derive(Debug, Clone)]
pub struct PackageLink {
    /// The token to append to `/privacy/packages/`.
    pub token: String,
    /// Until when it works.
    pub expires_at: DateTime<Utc>,
    /// How many fetches it allows.
    pub fetches: i32,
}

fn link_context() -> &'static str {
    "privacy_package_link"
}

/// Gives a completed access request's package a new link (the one before stops working),
/// audited without the token.
pub async fn issue_link(
    pool: &sqlx::PgPool,
    secrets: &SecretBox,
    caller: &Caller,
    id: PrivacyRequestId,
) -> Result<PackageLink, RequestError> {
    let mut tx = pool.begin().await?;
    let row = caller
        .visible(requests::lock(&mut tx, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    let ready = row.kind == "access" && row.status == "completed";
    if !ready {
        return Err(RequestError::Conflict(
            "no-package",
            format!(
                "privacy request {} is a {} request, {}: it has no package to fetch",
                row.id, row.kind, row.status
            ),
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let expires_at = Utc::now() + Duration::days(LINK_DAYS);
    let digest = secrets.digest(link_context(), &token);
    if !store::set_link(&mut tx, row.id, &digest, expires_at, FETCHES).await? {
        return Err(RequestError::Conflict(
            "package-deleted",
            "the package's files were deleted (its link expired or was used up); file a new access request".into(),
        ));
    }
    let detail = json!({ "expires_at": expires_at, "fetches": FETCHES });
    requests::add_event(
        &mut tx,
        row.id,
        "package_link_issued",
        &caller.person,
        &detail,
    )
    .await?;
    let entry = AuditEntry::now(
        &caller.person,
        "privacy_request.package_link_issued",
        format!("privacy_request:{}", row.id),
        row.workspace_id.as_deref(),
        json!({ "request_id": row.id, "expires_at": expires_at, "fetches": FETCHES }),
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(PackageLink {
        token,
        expires_at,
        fetches: FETCHES,
    })
}

/// The package behind a link token, taking one of its fetches: `{manifest, files}` (each
/// file's text, as hashed in the manifest). `None`: no such link, expired or used up.
pub async fn fetch(
    pool: &sqlx::PgPool,
    secrets: &SecretBox,
    token: &str,
) -> Result<Option<Value>, RequestError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let digest = secrets.digest(link_context(), token);
    let mut tx = pool.begin().await?;
    let Some((request_id, manifest, files)) = store::fetch(&mut tx, &digest).await? else {
        return Ok(None);
    };
    requests::add_event(
        &mut tx,
        request_id,
        "package_fetched",
        super::ACTOR,
        &json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(json!({ "manifest": manifest, "files": files })))
}

/// Deletes spent packages' files; answers how many.
pub async fn drop_spent(pool: &sqlx::PgPool) -> sqlx::Result<u64> {
    let mut conn = pool.acquire().await?;
    store::drop_spent(&mut conn, UNLINKED_DAYS).await
}
