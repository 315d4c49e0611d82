//! Audit: search the hash-chained ledger (actor, action, subject; newest first, paged by
//! position), verify the whole chain on request, and show the head — position and hash —
//! to record outside this database. A key confined to one workspace reads its
//! workspace's entries, learns only whether the chain holds, and sees no head (the same
//! rules as `/v1/audit`, from [`crate::security::audit`]).

use poem::http::StatusCode;
use poem::web::Query;
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{self, time};
use super::render;
use super::session::{self, SignedIn};
use crate::security::Permission;
use crate::security::audit::{self, LedgerFilter};
use crate::security::sessions::Session;

/// Entries per page.
const PAGE: i64 = 100;

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub struct AuditSearch {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    before: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn render_page(
    request: &Request,
    session: &Session,
    search: &AuditSearch,
    verification: Option<Value>,
) -> Response {
    if let Err(forbidden) = session.caller.require(Permission::ReadAudit) {
        return page::not_allowed(session, &forbidden);
    }
    let (engine, _) = session::parts(request);
    let filter = LedgerFilter {
        subject: some(&search.subject),
        actor: some(&search.actor),
        action: some(&search.action),
        workspace_id: None,
        since: None,
        until: None,
        before: search.before.trim().parse().ok(),
        limit: PAGE,
    };
    let rows = match audit::list(engine.pool(), &session.caller, filter).await {
        Ok(rows) => rows,
        Err(error) => return page::failed(session, &error),
    };
    let head = match audit::visible_head(engine.pool(), &session.caller).await {
        Ok(head) => head.map(|(seq, hash)| json!({ "seq": seq, "hash": hex::encode(hash) })),
        Err(error) => return page::failed(session, &error),
    };
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|row| row.seq))
        .flatten();
    let mut context = page::context(session, "audit");
    context.insert(
        "entries",
        &rows
            .iter()
            .map(|row| {
                json!({ "seq": row.seq, "at": time(row.entry.at), "actor": row.entry.actor,
                        "action": row.entry.action, "subject": row.entry.subject,
                        "workspace": row.entry.workspace_id, "data": row.entry.data.to_string(),
                        "hash": hex::encode(&row.hash) })
            })
            .collect::<Vec<_>>(),
    );
    context.insert(
        "search",
        &json!({ "actor": search.actor, "action": search.action, "subject": search.subject }),
    );
    let filters = [
        ("actor", search.actor.as_str()),
        ("action", search.action.as_str()),
        ("subject", search.subject.as_str()),
    ];
    context.insert(
        "newest",
        &(!search.before.is_empty()).then(|| page::href("/console/audit", &filters)),
    );
    context.insert(
        "older",
        &next.map(|before| {
            let before = before.to_string();
            let mut pairs = filters.to_vec();
            pairs.push(("before", &before));
            page::href("/console/audit", &pairs)
        }),
    );
    context.insert("head", &head);
    context.insert("head_confined", audit::HEAD_CONFINED);
    context.insert("verification", &verification);
    render::page(StatusCode::OK, "audit.html", &context)
}

/// `GET /console/audit`.
#[handler]
pub async fn show(
    request: &Request,
    SignedIn(session): SignedIn,
    Query(search): Query<AuditSearch>,
) -> Response {
    render_page(request, &session, &search, None).await
}

/// `GET /console/audit/verify`: the same page with the whole chain verified.
#[handler]
pub async fn verify(
    request: &Request,
    SignedIn(session): SignedIn,
    Query(search): Query<AuditSearch>,
) -> Response {
    if let Err(forbidden) = session.caller.require(Permission::ReadAudit) {
        return page::not_allowed(&session, &forbidden);
    }
    let (engine, _) = session::parts(request);
    let verification = match audit::visible_verification(engine.pool(), &session.caller).await {
        Ok((intact, Some(details))) => json!({
            "intact": intact, "checked": details.checked, "pending": details.pending,
            "problem": details.problem(),
            "first_broken": details.first_broken.as_ref().map(|b| b.seq),
        }),
        Ok((intact, None)) => json!({
            "intact": intact,
            "problem": (!intact).then_some(audit::BROKEN_CONFINED),
        }),
        Err(error) => return page::failed(&session, &error),
    };
    render_page(request, &session, &search, Some(verification)).await
}
