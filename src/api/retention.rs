//! `/v1/retention/policies`: how long each data category is kept, per workspace status.
//! Calls the data lifecycle domain's commands ([`crate::lifecycle::retention`]).

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::auth::ApiKey;
use super::problem::ApiError;
use crate::engine::Engine;
use crate::engine::RunId;
use crate::lifecycle::purge::DueCount;
use crate::lifecycle::retention::{self, Policy, PolicyChange, PolicyError};
use crate::lifecycle::sweep::{self, SweepCount};
use crate::security::Permission;
use poem_openapi::param::Path;
use uuid::Uuid;

/// A policy in force.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PolicyView {
    /// Data-map category.
    pub category: String,
    /// `active` (every status but closed) or `closed`.
    pub workspace_status: String,
    /// How long records are kept, e.g. `90d`; absent: kept for good.
    pub keep_for: Option<String>,
    /// The same in seconds.
    pub keep_seconds: Option<u64>,
    /// No policy for this category may be shorter.
    pub minimum: String,
    /// Why.
    pub reason: String,
    /// `default` (documented in docs/DATA.md) or `set`.
    pub source: String,
    /// Who set it.
    pub updated_by: Option<String>,
    /// When.
    pub updated_at: Option<DateTime<Utc>>,
}

use crate::duration::as_days as days;

impl From<Policy> for PolicyView {
    fn from(policy: Policy) -> Self {
        Self {
            category: policy.category.as_str().to_owned(),
            workspace_status: policy.workspace_status.as_str().to_owned(),
            keep_for: policy.keep.map(days),
            keep_seconds: policy.keep.map(|d| d.as_secs()),
            minimum: days(policy.minimum),
            reason: policy.reason,
            source: policy.source.to_owned(),
            updated_by: policy.updated_by,
            updated_at: policy.updated_at,
        }
    }
}

/// The policies in force.
#[derive(Debug, Object)]
pub struct PolicyList {
    /// One per swept category and workspace status.
    pub items: Vec<PolicyView>,
}

/// One policy to set.
#[derive(Debug, Object)]
pub struct PolicyChangeRequest {
    /// Data-map category.
    pub category: String,
    /// `active` or `closed`.
    pub workspace_status: String,
    /// How long, e.g. `30d`; leave out (or null) to keep for good.
    pub keep_for: Option<String>,
    /// Why (shown with the policy).
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: String,
}

/// Policies to set, all or none.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SetPoliciesRequest {
    /// The changes.
    #[oai(validator(max_items = 50))]
    pub policies: Vec<PolicyChangeRequest>,
}

impl Example for SetPoliciesRequest {
    fn example() -> Self {
        Self {
            policies: vec![PolicyChangeRequest {
                category: "webhook_payloads".into(),
                workspace_status: "active".into(),
                keep_for: Some("14d".into()),
                reason: "deliveries are reprocessed within days; two weeks is enough".into(),
            }],
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::Confined(_) => ApiError::forbidden("forbidden", error.to_string()),
            PolicyError::Invalid(problems) => ApiError::invalid(
                "invalid-retention-policy",
                "The retention policies are not valid",
                problems,
            ),
            PolicyError::Database(error) => error.into(),
        }
    }
}

/// What a sweep now would do to one table's records of one workspace.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PreviewLine {
    /// Table.
    pub table: String,
    /// Data-map category.
    pub category: String,
    /// Workspace; absent: records of no workspace.
    pub workspace_id: Option<String>,
    /// Past retention and not held: a sweep would delete them.
    pub purgeable: i64,
    /// Past retention but held.
    pub held: i64,
    /// The holds keeping them.
    pub hold_ids: Vec<Uuid>,
}

impl From<DueCount> for PreviewLine {
    fn from(line: DueCount) -> Self {
        Self {
            table: line.table.to_owned(),
            category: line.category.as_str().to_owned(),
            workspace_id: (!line.workspace_id.is_empty()).then_some(line.workspace_id),
            purgeable: line.purgeable,
            held: line.held,
            hold_ids: line.hold_ids,
        }
    }
}

/// What a sweep now would do.
#[derive(Debug, Object)]
pub struct PreviewView {
    /// Per table and workspace with anything due.
    pub items: Vec<PreviewLine>,
    /// Rows a sweep would delete.
    pub purgeable: i64,
    /// Rows held.
    pub held: i64,
}

/// One line of a sweep's report.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SweepLine {
    /// Table.
    pub table: String,
    /// Workspace; absent: records of no workspace.
    pub workspace_id: Option<String>,
    /// Rows deleted.
    pub deleted: i64,
    /// Rows anonymised.
    pub anonymised: i64,
    /// Rows past retention that stayed held.
    pub held: i64,
    /// The holds keeping them.
    pub hold_ids: Vec<Uuid>,
    /// Time spent on these rows, in milliseconds.
    pub millis: i64,
}

impl From<SweepCount> for SweepLine {
    fn from(line: SweepCount) -> Self {
        Self {
            table: line.table_name,
            workspace_id: (!line.workspace_id.is_empty()).then_some(line.workspace_id),
            deleted: line.deleted,
            anonymised: line.anonymised,
            held: line.held,
            hold_ids: line.hold_ids,
            millis: line.millis,
        }
    }
}

/// A sweep's report (growing while it runs).
#[derive(Debug, Object)]
pub struct SweepReportView {
    /// The sweep's run (`/v1/runs/{id}`).
    pub run_id: Uuid,
    /// The run's status.
    pub status: String,
    /// Rows deleted so far.
    pub deleted: i64,
    /// Rows held.
    pub held: i64,
    /// Per table and workspace.
    pub items: Vec<SweepLine>,
}

/// The retention resource.
pub struct RetentionApi {
    /// The engine (for its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::DataLifecycle")]
impl RetentionApi {
    /// List retention policies
    ///
    /// Every swept category's policy per workspace status, with its minimum and reason.
    #[oai(
        path = "/v1/retention/policies",
        method = "get",
        operation_id = "list_retention_policies"
    )]
    async fn list(&self, auth: ApiKey) -> Result<Json<PolicyList>, ApiError> {
        auth.require(Permission::ReadLifecycle)?;
        let policies = retention::policies(self.engine.pool()).await?;
        Ok(Json(PolicyList {
            items: policies.into_iter().map(PolicyView::from).collect(),
        }))
    }

    /// Set retention policies
    ///
    /// All or none; each change is audited with the value it replaced. Compliance leads
    /// of every workspace only. The audit ledger, keys and holds take no policy.
    #[oai(
        path = "/v1/retention/policies",
        method = "put",
        operation_id = "set_retention_policies"
    )]
    async fn set(
        &self,
        auth: ApiKey,
        body: Json<SetPoliciesRequest>,
    ) -> Result<Json<PolicyList>, ApiError> {
        let caller = auth.require(Permission::SetRetention)?;
        let changes: Vec<PolicyChange> = body
            .0
            .policies
            .into_iter()
            .map(|p| PolicyChange {
                category: p.category,
                workspace_status: p.workspace_status,
                keep_for: p.keep_for,
                reason: p.reason,
            })
            .collect();
        let policies = retention::set(self.engine.pool(), caller, &changes).await?;
        Ok(Json(PolicyList {
            items: policies.into_iter().map(PolicyView::from).collect(),
        }))
    }

    /// Preview a retention sweep
    ///
    /// What a sweep now would delete and what it would leave held, per table and
    /// workspace, under the policies in force. Deletes nothing.
    #[oai(
        path = "/v1/retention/preview",
        method = "post",
        operation_id = "preview_retention_sweep"
    )]
    async fn preview(&self, auth: ApiKey) -> Result<Json<PreviewView>, ApiError> {
        let caller = auth.require(Permission::ReadLifecycle)?;
        let lines = sweep::preview(self.engine.pool(), caller).await?;
        Ok(Json(PreviewView {
            purgeable: lines.iter().map(|l| l.purgeable).sum(),
            held: lines.iter().map(|l| l.held).sum(),
            items: lines.into_iter().map(PreviewLine::from).collect(),
        }))
    }

    /// Get a retention sweep's report
    ///
    /// Per table and workspace: rows deleted, rows held (with the holds), time spent.
    /// Counted as each batch commits, so it shows progress while the sweep runs.
    #[oai(
        path = "/v1/retention/sweeps/:run_id",
        method = "get",
        operation_id = "get_retention_sweep"
    )]
    async fn sweep_report(
        &self,
        auth: ApiKey,
        run_id: Path<Uuid>,
    ) -> Result<Json<SweepReportView>, ApiError> {
        let caller = auth.require(Permission::ReadLifecycle)?;
        let (run, lines) =
            sweep::visible_report(&self.engine, caller, RunId::from(run_id.0)).await?;
        Ok(Json(SweepReportView {
            run_id: run.id.uuid(),
            status: run.status.to_string(),
            deleted: lines.iter().map(|l| l.deleted).sum(),
            held: lines.iter().map(|l| l.held).sum(),
            items: lines.into_iter().map(SweepLine::from).collect(),
        }))
    }
}
