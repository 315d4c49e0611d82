//! Approval decisions on a run waiting at an approval step: the step's [`policy`] checked
//! inside the decision's transaction (a refusal recorded in the audit ledger on its own),
//! the quorum counted, and the run moved on; a workflow whose approvals a domain owns is
//! decided through that domain's command, in its transaction ([`Engine::decide_in`]).

use serde_json::json;

use crate::engine::StepStatus;
use crate::engine::commands::policy;
use crate::engine::definitions::definition::{StepKind, outcome};
use crate::engine::execution::eager::Writer;
use crate::engine::execution::transition::Transition;
use crate::engine::{Engine, EngineError};
use crate::security::Caller;
use crate::security::audit::{self, AuditEntry};
use crate::store;
use crate::store::ids::RunId;
use crate::store::runs::RunRow;

/// An approval decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

impl Decision {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

impl Engine {
    /// Records an approval decision on the step the run is waiting at; once the quorum
    /// of approvals is reached (or on any rejection) the run moves on. The step's policy
    /// is checked first, in the same transaction; a refusal is recorded in the audit
    /// ledger on its own and answered with the rule that refused it. A run of a workflow
    /// whose approvals a domain owns ([`HandlerRegistry::own_decisions`]) is refused: its
    /// decision goes through that domain's command.
    ///
    /// [`HandlerRegistry::own_decisions`]: crate::engine::handlers::HandlerRegistry::own_decisions
    #[tracing::instrument(name = "decide", skip_all, fields(run.id = %id, step.id = step_id))]
    pub async fn decide(
        &self,
        id: RunId,
        step_id: &str,
        decider: &Caller,
        decision: Decision,
        reason: &str,
    ) -> Result<RunRow, EngineError> {
        let workflow = self.run(id).await?.workflow;
        if let Some(through) = self.catalog.registry().decided_through(&workflow) {
            return Err(EngineError::Conflict(format!(
                "step `{step_id}` of a {workflow} run is decided through {through}, which \
                 records the decision with its request"
            )));
        }
        self.decide_owned(id, step_id, decider, decision, reason)
            .await
    }

    /// Decides an approval step of a workflow whose approvals its domain owns: for that
    /// domain's own command, which records the decision with its request.
    pub async fn decide_owned(
        &self,
        id: RunId,
        step_id: &str,
        decider: &Caller,
        decision: Decision,
        reason: &str,
    ) -> Result<RunRow, EngineError> {
        let tx = self.pool.begin().await?;
        self.decide_in(tx, id, step_id, decider, decision, reason)
            .await
    }

    /// Like [`Engine::decide`], in the caller's transaction, which may already hold the
    /// caller's own writes (a reviewer's approved scope): they commit with the decision,
    /// or are rolled back with it when the policy refuses.
    pub async fn decide_in(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        id: RunId,
        step_id: &str,
        decider: &Caller,
        decision: Decision,
        reason: &str,
    ) -> Result<RunRow, EngineError> {
        let actor = decider.person.as_str();
        let run = decider
            .visible(store::runs::lock(&mut tx, id).await?)
            .ok_or(EngineError::RunNotFound(id))?;
        let definition = self
            .catalog
            .pinned(&mut tx, &run.workflow, run.workflow_version)
            .await?;
        let step = definition.step(step_id).ok_or_else(|| {
            EngineError::StepNotFound(format!(
                "workflow `{}` has no step `{step_id}`",
                run.workflow
            ))
        })?;
        let StepKind::Approval(spec) = &step.kind else {
            return Err(EngineError::Conflict(format!(
                "step `{step_id}` is not an approval step"
            )));
        };
        let mut row = match store::steps::get(&mut tx, id, run.current_seq).await? {
            Some(row)
                if run.current_step.as_deref() == Some(step_id)
                    && row.status == StepStatus::Waiting =>
            {
                row
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "step `{step_id}` is not waiting for a decision (run is {})",
                    run.status
                )));
            }
        };
        let decided = store::steps::decided_by(&mut tx, id, actor).await?;
        if decided.iter().any(|(seq, _)| *seq == row.seq) {
            return Err(EngineError::Conflict(format!(
                "{actor} has already decided step `{step_id}`"
            )));
        }
        let decided_steps: Vec<String> = decided.into_iter().map(|(_, step)| step).collect();
        let check = policy::check(
            spec,
            step_id,
            &policy::Decider {
                actor,
                role: decider.role,
                initiator: &run.initiator,
                decided_steps: &decided_steps,
                context: &run.context,
            },
        );
        if let Err(refusal) = check {
            tx.rollback().await?;
            self.record_refusal(&run, step_id, decider, decision, &refusal)
                .await?;
            return Err(EngineError::Refused(refusal));
        }
        if !store::steps::insert_decision(
            &mut tx,
            id,
            row.seq,
            actor,
            decider.role.as_str(),
            decision.as_str(),
            reason,
        )
        .await?
        {
            return Err(EngineError::Conflict(format!(
                "{actor} has already decided step `{step_id}`"
            )));
        }
        let approvals = store::steps::count_approvals(&mut tx, id, row.seq).await?;
        let mut transition = Transition::new(&definition, run, Some(actor.to_owned()));
        transition.record(
            "decision_recorded",
            Some(step_id),
            json!({
                "decision": decision.as_str(), "role": decider.role.as_str(), "reason": reason,
                "approvals": approvals, "quorum": spec.quorum,
            }),
        );
        let reached = match decision {
            Decision::Reject => Some(outcome::REJECTED),
            Decision::Approve if approvals >= i64::from(spec.quorum) => Some(outcome::APPROVED),
            Decision::Approve => None,
        };
        if let Some(reached) = reached {
            let output = json!({ "decision": reached, "decided_by": actor, "reason": reason });
            transition.complete_row(&mut row, reached, &output);
            store::steps::save(&mut tx, &row).await?;
            let failure = (reached == outcome::REJECTED)
                .then(|| format!("step `{step_id}` was rejected by {actor}: {reason}"));
            transition
                .follow(&mut tx, step.target_for(reached), failure)
                .await?;
        }
        let run = self
            .commit_handing_off(Writer::Transaction(tx), transition)
            .await?;
        Ok(run)
    }

    /// Writes a refused decision to the audit ledger (its own transaction: the decision's
    /// was rolled back).
    async fn record_refusal(
        &self,
        run: &RunRow,
        step_id: &str,
        decider: &Caller,
        decision: Decision,
        refusal: &policy::Refusal,
    ) -> Result<(), EngineError> {
        let entry = AuditEntry::now(
            &decider.person,
            "decision.refused",
            format!("run:{}", run.id),
            run.workspace_id.as_deref(),
            json!({
                "step_id": step_id, "decision": decision.as_str(), "role": decider.role.as_str(),
                "rule": refusal.rule, "detail": refusal.detail,
            }),
        );
        let mut tx = self.pool.begin().await?;
        audit::append(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }
}
