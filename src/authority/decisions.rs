//! The decisions people make on an authority request, each a command that records its
//! part of the request (the verdict and approved scope, the disclosure approval, the
//! post-review finding) and its timeline entry in the same transaction as the engine's
//! decision on the step the run waits at: when the approval policy refuses (the filer,
//! the reviewer approving the disclosure), nothing is written. Also the authority's
//! clarification and a preservation's renewal.

use serde_json::{Value, json};
use uuid::Uuid;

use super::instruments::{Instrument, basis};
use super::requests::{
    AuthorityRequestId, RequestDetail, RequestError, RequestRow, at, get, unconfined, visible,
};
use super::scope::{Scope, ScopeInput, narrow};
use super::store::requests::{self as store, Review};
use super::{CLARIFICATION_EVENT, PRESERVATION_EVENT, timeline};
use crate::engine::commands::decisions::Decision;
use crate::engine::commands::events::Event;
use crate::engine::commands::runs::Actor;
use crate::engine::{Engine, RunId};
use crate::lifecycle::holds;
use crate::security::Caller;
use crate::store::ids::HoldId;

/// How long a decision waits for the run to reach the step it decides.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// A review's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Legally sufficient: the approved scope goes ahead.
    Valid,
    /// Not sufficient: the request closes, reason recorded.
    Invalid,
    /// The authority must clarify; the review comes back.
    NeedsClarification,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::NeedsClarification => "needs_clarification",
        }
    }
}

/// The step the request's run waits at, if it is one of `steps`.
async fn waiting_step(
    engine: &Engine,
    row: &RequestRow,
    steps: &[&str],
    what: &str,
) -> Result<(RunId, String), RequestError> {
    let not_waiting = || {
        RequestError::Conflict(
            "not-awaiting-decision",
            format!(
                "authority request {} is {}: nothing waits for {what}",
                row.id, row.status
            ),
        )
    };
    let run_id = RunId::from(row.run_id.ok_or_else(not_waiting)?);
    let run = engine.run_at_rest(run_id, PATIENCE).await?;
    let finished = run.is_finished();
    let step = run
        .current_step
        .filter(|step| steps.contains(&step.as_str()) && !finished)
        .ok_or_else(not_waiting)?;
    Ok((run_id, step))
}

fn required_reason(reason: &str) -> Result<(), RequestError> {
    if reason.trim().is_empty() {
        return Err(RequestError::Invalid(vec![at(
            "/reason",
            "say why: it is recorded as part of the response",
        )]));
    }
    Ok(())
}

/// The basis of each approved category: the instrument and the rule that allowed it.
fn bases(instrument: Instrument, scope: &Scope) -> Value {
    let mut out = serde_json::Map::new();
    for category in &scope.categories {
        let rule = match instrument {
            Instrument::Preservation => format!(
                "{}: preserved under a preservation request (18 USC 2703(f)); nothing is produced",
                category.as_str()
            ),
            _ => basis(instrument, *category).unwrap_or_else(|refusal| refusal.to_string()),
        };
        out.insert(
            category.as_str().to_owned(),
            json!({ "instrument": instrument.as_str(), "rule": rule }),
        );
    }
    Value::Object(out)
}

/// Records the review of legal sufficiency (or, for an emergency, the lead's approval):
/// `valid` with the approved scope, narrowed within the request and what the instrument
/// allows (422 naming the field otherwise); `invalid` or `needs_clarification` with the
/// reason.
pub async fn review(
    engine: &Engine,
    caller: &Caller,
    id: AuthorityRequestId,
    verdict: Verdict,
    approved: Option<&ScopeInput>,
    reason: &str,
) -> Result<RequestDetail, RequestError> {
    unconfined(caller)?;
    let mut conn = engine.pool().acquire().await?;
    let row = visible(&mut conn, caller, id.uuid()).await?;
    drop(conn);
    let instrument = Instrument::parse(&row.instrument).unwrap_or(Instrument::Other);
    let requested = Scope::from_json(&row.requested_scope).unwrap_or_default();
    let (approved, narrowed, basis) = match (verdict, approved) {
        (Verdict::Valid, None) => {
            return Err(RequestError::Invalid(vec![at(
                "/approved_scope",
                "a valid request is answered with the approved scope (at most the requested one)",
            )]));
        }
        (Verdict::Valid, Some(input)) => {
            let scope = Scope::parse(input, "/approved_scope").map_err(RequestError::Invalid)?;
            let narrowed = narrow(instrument, &requested, &scope).map_err(RequestError::Invalid)?;
            let basis = bases(instrument, &scope);
            (Some(scope.json()), Some(narrowed), Some(basis))
        }
        (_, Some(_)) => {
            return Err(RequestError::Invalid(vec![at(
                "/approved_scope",
                "only a valid request has an approved scope",
            )]));
        }
        (_, None) => {
            required_reason(reason)?;
            (None, None, None)
        }
    };
    let (run_id, step) =
        waiting_step(engine, &row, &["review", "emergency_approval"], "a review").await?;
    let mut tx = engine.pool().begin().await?;
    store::lock(&mut tx, row.id).await?;
    store::set_review(
        &mut tx,
        row.id,
        &Review {
            verdict: verdict.as_str(),
            reason,
            reviewed_by: &caller.person,
            approved_scope: approved.as_ref(),
            narrowed: narrowed.as_ref(),
            basis: basis.as_ref(),
        },
    )
    .await?;
    timeline::record(
        &mut tx,
        row.id,
        "reviewed",
        &caller.person,
        json!({
            "step": step, "verdict": verdict.as_str(), "reason": reason,
            "role": caller.role.as_str(),
            "requested_scope": row.requested_scope, "approved_scope": approved,
            "narrowed": narrowed, "basis": basis,
        }),
        json!({ "verdict": verdict.as_str(), "step": step }),
    )
    .await?;
    let decision = if verdict == Verdict::Valid {
        Decision::Approve
    } else {
        Decision::Reject
    };
    let text = format!("{}: {reason}", verdict.as_str());
    engine
        .decide_in(tx, run_id, &step, caller, decision, &text)
        .await?;
    get(engine.pool(), caller, id).await
}

/// Records the compliance lead's approval (or withholding) of the disclosure.
pub async fn decide_disclosure(
    engine: &Engine,
    caller: &Caller,
    id: AuthorityRequestId,
    approve: bool,
    reason: &str,
) -> Result<RequestDetail, RequestError> {
    let kind = if approve {
        "disclosure_approved"
    } else {
        "disclosure_withheld"
    };
    if !approve {
        required_reason(reason)?;
    }
    decide_recorded(
        engine,
        caller,
        id,
        (&["disclosure_approval"], "a disclosure approval"),
        (kind, json!({ "reason": reason })),
        approve,
        reason,
    )
    .await
}

/// Records the second person's review of an emergency disclosure: `sound` or not.
pub async fn post_review(
    engine: &Engine,
    caller: &Caller,
    id: AuthorityRequestId,
    sound: bool,
    reason: &str,
) -> Result<RequestDetail, RequestError> {
    if !sound {
        required_reason(reason)?;
    }
    let finding = if sound { "sound" } else { "unsound" };
    decide_recorded(
        engine,
        caller,
        id,
        (&["post_review", "late_post_review"], "a post-review"),
        (
            "post_reviewed",
            json!({ "finding": finding, "reason": reason }),
        ),
        sound,
        reason,
    )
    .await
}

/// Decides the approval step of `steps` the run waits at, with a timeline entry
/// `(kind, detail)` (the step is added to it) written in the same transaction.
async fn decide_recorded(
    engine: &Engine,
    caller: &Caller,
    id: AuthorityRequestId,
    (steps, what): (&[&str], &str),
    (kind, mut detail): (&str, Value),
    approve: bool,
    reason: &str,
) -> Result<RequestDetail, RequestError> {
    unconfined(caller)?;
    let mut conn = engine.pool().acquire().await?;
    let row = visible(&mut conn, caller, id.uuid()).await?;
    drop(conn);
    let (run_id, step) = waiting_step(engine, &row, steps, what).await?;
    let mut tx = engine.pool().begin().await?;
    store::lock(&mut tx, row.id).await?;
    detail["step"] = json!(step);
    detail["role"] = json!(caller.role.as_str());
    timeline::record(
        &mut tx,
        row.id,
        kind,
        &caller.person,
        detail,
        json!({ "step": step }),
    )
    .await?;
    let decision = if approve {
        Decision::Approve
    } else {
        Decision::Reject
    };
    engine
        .decide_in(tx, run_id, &step, caller, decision, reason)
        .await?;
    get(engine.pool(), caller, id).await
}

/// Records the authority's clarification and returns the request to review.
pub async fn clarify(
    engine: &Engine,
    caller: &Caller,
    id: AuthorityRequestId,
    note: &str,
) -> Result<RequestDetail, RequestError> {
    unconfined(caller)?;
    if note.trim().is_empty() {
        return Err(RequestError::Invalid(vec![at(
            "/note",
            "what the authority clarified",
        )]));
    }
    let mut tx = engine.pool().begin().await?;
    let row = caller
        .visible(store::lock(&mut tx, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    let run_id = match (row.status.as_str(), row.run_id) {
        ("needs_clarification", Some(run_id)) => RunId::from(run_id),
        _ => {
            return Err(RequestError::Conflict(
                "not-awaiting-clarification",
                format!(
                    "authority request {} is {}: no clarification was asked for",
                    row.id, row.status
                ),
            ));
        }
    };
    store::set_status(&mut tx, row.id, "clarified").await?;
    timeline::record(
        &mut tx,
        row.id,
        "clarification_received",
        &caller.person,
        json!({ "note": note }),
        json!({}),
    )
    .await?;
    let correlation = row.id.to_string();
    engine
        .post_event_within(
            &mut tx,
            run_id,
            &Event {
                name: CLARIFICATION_EVENT,
                correlation: &correlation,
                payload: &json!({ "clarified_by": caller.person }),
            },
            Actor::Caller(caller),
        )
        .await?;
    tx.commit().await?;
    get(engine.pool(), caller, id).await
}

/// Renews a preservation-only request's holds once, for 90 more days.
pub async fn renew(
    engine: &Engine,
    caller: &Caller,
    id: AuthorityRequestId,
) -> Result<RequestDetail, RequestError> {
    unconfined(caller)?;
    let mut tx = engine.pool().begin().await?;
    let row = caller
        .visible(store::lock(&mut tx, id.uuid()).await?)
        .ok_or(RequestError::NotFound(id.uuid()))?;
    if row.status != "preserving" {
        return Err(RequestError::Conflict(
            "not-preserving",
            format!(
                "authority request {} is {}: only a preservation request whose hold is in force is renewed",
                row.id, row.status
            ),
        ));
    }
    let mut renewed = Vec::new();
    for hold in &row.hold_ids {
        let hold = holds::renew_in(&mut tx, caller, HoldId::from(*hold)).await?;
        renewed.push(json!({ "hold_id": hold.id, "expires_at": hold.expires_at }));
    }
    timeline::record(
        &mut tx,
        row.id,
        "preservation_renewed",
        &caller.person,
        json!({ "holds": renewed }),
        json!({ "hold_ids": row.hold_ids }),
    )
    .await?;
    if let Some(run_id) = row.run_id {
        let correlation = row.id.to_string();
        engine
            .post_event_within(
                &mut tx,
                RunId::from(run_id),
                &Event {
                    name: PRESERVATION_EVENT,
                    correlation: &correlation,
                    payload: &json!({ "renewed_by": caller.person }),
                },
                Actor::Caller(caller),
            )
            .await?;
    }
    tx.commit().await?;
    get(engine.pool(), caller, id).await
}

/// Whether `id` names a request (for handlers' error messages).
pub(super) fn missing(id: Uuid) -> crate::engine::handlers::HandlerError {
    crate::engine::handlers::HandlerError::Fatal(format!("authority request {id} does not exist"))
}
