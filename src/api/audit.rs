//! `/v1/audit`: read and verify the hash-chained audit ledger (auditors and admins).

use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use crate::engine::Engine;
use crate::security::Permission;
use crate::security::audit::{self, LedgerFilter, LedgerRow};

/// Largest page of entries.
const MAX_PAGE: u32 = 500;

/// One ledger entry.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AuditEntryView {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Key name, or `engine`.
    pub actor: String,
    /// What happened, e.g. `run.run_started`, `decision.refused`, `key.created`.
    pub action: String,
    /// What it happened to, e.g. `run:<id>`, `key:<id>`.
    pub subject: String,
    /// Workspace of the subject.
    pub workspace_id: Option<String>,
    /// Details.
    pub data: Value,
    /// Previous entry's hash (hex).
    pub prev_hash: String,
    /// SHA-256(prev_hash || canonical JSON of this entry), hex.
    pub hash: String,
}

impl From<LedgerRow> for AuditEntryView {
    fn from(row: LedgerRow) -> Self {
        Self {
            seq: row.seq,
            at: row.entry.at,
            actor: row.entry.actor,
            action: row.entry.action,
            subject: row.entry.subject,
            workspace_id: row.entry.workspace_id,
            data: row.entry.data,
            prev_hash: hex::encode(row.prev_hash),
            hash: hex::encode(row.hash),
        }
    }
}

/// A page of entries.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The result of recomputing the chain. The chain spans every workspace, so a
/// workspace-confined caller is told only whether it holds; the figures (which describe
/// every workspace's activity) are for unconfined callers.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct VerifyView {
    /// Whether every link holds, every ledger entry is in the chain or waits (briefly) to
    /// be, and none has waited too long.
    pub intact: bool,
    /// Entries checked (up to the first broken one).
    pub checked: Option<i64>,
    /// The first entry whose link does not hold.
    pub first_broken_seq: Option<i64>,
    /// Ledger entries neither chained nor waiting to be: hidden from every reader.
    pub unchained: Option<i64>,
    /// Entries waiting to be chained.
    pub pending: Option<i64>,
    /// What does not hold.
    pub reason: Option<String>,
}

/// The end of the chain.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditHeadView {
    /// The last entry's position in the chain (0 while the ledger is empty).
    pub seq: i64,
    /// The last entry's hash, hex (64 zeros while the ledger is empty).
    pub hash: String,
}

/// The audit resource.
pub struct AuditApi {
    /// The engine (for its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Audit")]
impl AuditApi {
    /// List audit entries
    ///
    /// Newest first, filtered by subject, actor, action and time; follow `next_cursor`.
    /// A workspace-confined key sees its workspace's entries only.
    #[oai(path = "/v1/audit", method = "get", operation_id = "list_audit")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: ApiKey,
        /// Only entries about this subject, e.g. `run:<id>`.
        subject: Query<Option<String>>,
        /// Only entries by this actor.
        actor: Query<Option<String>>,
        /// Only entries with this action.
        action: Query<Option<String>>,
        /// Only entries at or after this instant.
        since: Query<Option<DateTime<Utc>>>,
        /// Only entries before this instant.
        until: Query<Option<DateTime<Utc>>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size (1 to 500, default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        let caller = auth.require(Permission::ReadAudit)?;
        let before = match cursor.0.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("cursor `{text}` is not one this API issued"))
            })?),
        };
        let limit = limit.0.unwrap_or(100).min(MAX_PAGE);
        let filter = LedgerFilter {
            subject: subject.0,
            actor: actor.0,
            action: action.0,
            workspace_id: None,
            since: since.0,
            until: until.0,
            before,
            limit: i64::from(limit),
        };
        let rows = audit::list(self.engine.pool(), caller, filter).await?;
        let next_cursor = (rows.len() == limit as usize)
            .then(|| rows.last().map(|row| row.seq.to_string()))
            .flatten();
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditEntryView::from).collect(),
            next_cursor,
        }))
    }

    /// Verify the audit chain
    ///
    /// Recomputes every entry's hash from the first one and reports the first link that
    /// does not hold (an entry edited, removed or reordered behind the ledger's back), and
    /// checks that every ledger entry is chained or waits to be for less than a minute. A
    /// workspace-confined caller is told only `intact` (and a reason without figures).
    #[oai(
        path = "/v1/audit/verify",
        method = "get",
        operation_id = "verify_audit"
    )]
    async fn verify(&self, auth: ApiKey) -> Result<Json<VerifyView>, ApiError> {
        let caller = auth.require(Permission::ReadAudit)?;
        let (intact, details) = audit::visible_verification(self.engine.pool(), caller).await?;
        let Some(result) = details else {
            return Ok(Json(VerifyView {
                intact,
                checked: None,
                first_broken_seq: None,
                unchained: None,
                pending: None,
                reason: (!intact).then(|| audit::BROKEN_CONFINED.into()),
            }));
        };
        Ok(Json(VerifyView {
            intact,
            checked: Some(result.checked),
            first_broken_seq: result.first_broken.as_ref().map(|b| b.seq),
            unchained: Some(result.unchained),
            pending: Some(result.pending),
            reason: result.problem(),
        }))
    }

    /// The end of the audit chain
    ///
    /// The last entry's position and hash, after linking every committed entry. Record them
    /// outside this database now and then: whoever rewrites an entry must then rewrite
    /// every later one, and the hash of the recorded position (`GET /v1/audit` with
    /// `cursor` = that position + 1 and `limit` = 1) no longer matches the record.
    ///
    /// For unconfined callers only (403 otherwise): the head's position counts every
    /// workspace's entries.
    #[oai(path = "/v1/audit/head", method = "get", operation_id = "audit_head")]
    async fn head(&self, auth: ApiKey) -> Result<Json<AuditHeadView>, ApiError> {
        let caller = auth.require(Permission::ReadAudit)?;
        let Some((seq, hash)) = audit::visible_head(self.engine.pool(), caller).await? else {
            return Err(ApiError::forbidden("forbidden", audit::HEAD_CONFINED));
        };
        Ok(Json(AuditHeadView {
            seq,
            hash: hex::encode(hash),
        }))
    }
}
