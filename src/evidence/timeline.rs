//! Request timelines bound to the audit ledger: each timeline entry is written with a
//! ledger entry carrying the entry's id and SHA-256 ([`super::record_digest`] of
//! [`hashed_form`]), in the same transaction. The ledger holds no personal data (the
//! entry's detail stays in its table, erasable where the data map says so); the bundle
//! shows the entry, and the chain proves it is the one written.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::record_digest;
use crate::security::audit::{self, AuditEntry};

/// Which requests' timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// `authority_request_events`.
    Authority,
    /// `privacy_request_events`.
    Privacy,
}

impl Timeline {
    fn table(self) -> &'static str {
        match self {
            Timeline::Authority => "authority_request_events",
            Timeline::Privacy => "privacy_request_events",
        }
    }

    /// The ledger subject of a request, `authority_request:<id>`.
    pub fn subject(self, id: Uuid) -> String {
        match self {
            Timeline::Authority => format!("authority_request:{id}"),
            Timeline::Privacy => format!("privacy_request:{id}"),
        }
    }

    /// The ledger action of a timeline entry of `kind`.
    fn action(self, kind: &str) -> String {
        match self {
            Timeline::Authority => format!("authority_request.{kind}"),
            // Privacy requests have ledger entries of their own for what they do
            // (`privacy_request.filed`, `.closed`); their timeline's are apart.
            Timeline::Privacy => "privacy_request.timeline".to_owned(),
        }
    }
}

/// One timeline entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineEvent {
    /// Its id (ascending in time).
    pub id: i64,
    /// The request.
    pub request_id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// Ids, rules, scopes, reasons.
    pub detail: Value,
}

/// The form of an entry that is hashed and shown in bundles.
pub fn hashed_form(event: &TimelineEvent) -> Value {
    json!({
        "id": event.id,
        "request_id": event.request_id,
        "at": event.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "kind": event.kind,
        "actor": event.actor,
        "detail": event.detail,
    })
}

/// Adds a timeline entry and its ledger entry; `ids` (an object) are added to the
/// ledger entry's data, to find it by (hold ids, a package hash).
pub async fn record(
    conn: &mut PgConnection,
    timeline: Timeline,
    id: Uuid,
    kind: &str,
    actor: &str,
    detail: &Value,
    ids: Value,
) -> sqlx::Result<TimelineEvent> {
    let event: TimelineEvent = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into {} (request_id, kind, actor, detail) values ($1, $2, $3, $4)
         returning id, request_id, at, kind, actor, detail",
        timeline.table()
    )))
    .bind(id)
    .bind(kind)
    .bind(actor)
    .bind(detail)
    .fetch_one(&mut *conn)
    .await?;
    let mut data = json!({
        "request_id": id,
        "event_id": event.id,
        "kind": kind,
        "event_sha256": record_digest(&hashed_form(&event)),
    });
    if let (Value::Object(data), Value::Object(ids)) = (&mut data, ids) {
        data.extend(ids);
    }
    let entry = AuditEntry::now(
        actor,
        timeline.action(kind),
        timeline.subject(id),
        None,
        data,
    );
    audit::append(conn, &[entry]).await?;
    Ok(event)
}

/// Whether the request's timeline has an entry of `kind`.
pub async fn has(
    conn: &mut PgConnection,
    timeline: Timeline,
    id: Uuid,
    kind: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select exists (select 1 from {} where request_id = $1 and kind = $2)",
        timeline.table()
    )))
    .bind(id)
    .bind(kind)
    .fetch_one(conn)
    .await
}

/// A request's timeline, oldest first.
pub async fn events(
    conn: &mut PgConnection,
    timeline: Timeline,
    id: Uuid,
) -> sqlx::Result<Vec<TimelineEvent>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select id, request_id, at, kind, actor, detail from {} where request_id = $1 order by id",
        timeline.table()
    )))
    .bind(id)
    .fetch_all(conn)
    .await
}
