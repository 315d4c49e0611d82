//! Example values of the response bodies, shown in the OpenAPI document and Swagger UI.

use chrono::{DateTime, TimeZone, Utc};
use poem_openapi::types::Example;
use serde_json::json;
use uuid::Uuid;

use super::approvals::ApprovalView;
use super::audit::{AuditEntryView, AuditHeadView, VerifyView};
use super::health::HealthView;
use super::keys::{CreatedKeyView, KeyView};
use super::views::{RunStatus, RunView};

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, second)
        .single()
        .unwrap_or_default()
}

fn run_id() -> Uuid {
    Uuid::parse_str("01937a4e-5c1b-7d2e-9f3a-4b5c6d7e8f90").unwrap_or_default()
}

impl Example for RunView {
    fn example() -> Self {
        Self {
            id: run_id(),
            workflow: "deletion_request".into(),
            workflow_version: 3,
            workspace_id: Some("ws_salon_aurora".into()),
            status: RunStatus::Waiting,
            current_step: Some("review".into()),
            input: json!({ "customer": "C-1001" }),
            error: None,
            cancel_reason: None,
            initiator: "crm-integration".into(),
            idempotency_key: Some("deletion-C-1001".into()),
            created_at: at(0),
            updated_at: at(1),
            finished_at: None,
        }
    }
}

impl Example for ApprovalView {
    fn example() -> Self {
        Self {
            run_id: run_id(),
            workflow: "deletion_request".into(),
            workspace_id: Some("ws_salon_aurora".into()),
            step_id: "review".into(),
            initiator: "crm-integration".into(),
            roles: vec!["compliance_officer".into()],
            approvals: 0,
            quorum: 1,
            waiting_since: at(1),
            expires_at: None,
        }
    }
}

impl Example for KeyView {
    fn example() -> Self {
        Self {
            id: Uuid::parse_str("01937a4e-0000-7000-8000-00000000a11c").unwrap_or_default(),
            name: "dana.compliance".into(),
            person_id: Uuid::parse_str("01937a4e-0000-7000-8000-00000000da7a").unwrap_or_default(),
            person: "dana.compliance".into(),
            role: "compliance_officer".into(),
            workspace_id: None,
            status: "active".into(),
            token_prefix: "bzs_3f9c1a0b".into(),
            created_by: "admin".into(),
            created_at: at(0),
            approved_by: Some("sam.admin".into()),
            approved_at: Some(at(1)),
            revoked_at: None,
            revoked_by: None,
        }
    }
}

impl Example for CreatedKeyView {
    fn example() -> Self {
        Self {
            key: KeyView::example(),
            token: "bzs_3f9c1a0b…(48 hex characters, shown once)".into(),
        }
    }
}

impl Example for AuditEntryView {
    fn example() -> Self {
        Self {
            seq: 42,
            at: at(5),
            actor: "dana.compliance".into(),
            action: "run.decision_recorded".into(),
            subject: format!("run:{}", run_id()),
            workspace_id: Some("ws_salon_aurora".into()),
            data: json!({
                "workflow": "deletion_request", "step_id": "review",
                "details": { "decision": "approve", "role": "compliance_officer" },
            }),
            prev_hash: "9f2c…".into(),
            hash: "51ab…".into(),
        }
    }
}

impl Example for VerifyView {
    fn example() -> Self {
        Self {
            intact: true,
            checked: Some(1_204),
            first_broken_seq: None,
            unchained: Some(0),
            pending: Some(0),
            reason: None,
        }
    }
}

impl Example for AuditHeadView {
    fn example() -> Self {
        Self {
            seq: 1_204,
            hash: "51ab3c9e0f7d2a64b8c1e5f9a03d7b26c4e8f1a5d9b2c6e0f3a7d1b5c9e2f6a0".into(),
        }
    }
}

impl Example for HealthView {
    fn example() -> Self {
        Self {
            status: "ok".into(),
        }
    }
}
