//! An attempt of a task step, started and not yet ended: what its handler is called
//! with, built from the definition the run is pinned to. Claims (the executor), inline
//! continuations (completion) and hand-offs (eager) all build it here.

use crate::store::ids::RunId;
use serde_json::Value;

use crate::engine::EngineError;
use crate::engine::definitions::definition::{Definition, Step, StepKind, TaskSpec};
use crate::engine::handlers::HandlerCall;

/// An attempt started and not yet ended: what the handler is called with.
pub(in crate::engine) struct Attempt {
    pub(in crate::engine) workflow: String,
    pub(in crate::engine) spec: TaskSpec,
    pub(in crate::engine) seq: i32,
    pub(in crate::engine) call: HandlerCall,
}

/// Step `step_id` of the definition a run is pinned to (a run never names a step its
/// definition lacks, unless the stored definition was tampered with).
pub(in crate::engine) fn pinned_step<'d>(
    definition: &'d Definition,
    step_id: &str,
) -> Result<&'d Step, EngineError> {
    definition
        .step(step_id)
        .ok_or_else(|| EngineError::Definition(format!("step `{step_id}` vanished")))
}

impl Attempt {
    /// Attempt `number` of task step `step_id` on visit `seq` of a run.
    pub(in crate::engine) fn of_task(
        definition: &Definition,
        step_id: &str,
        run_id: RunId,
        seq: i32,
        number: i32,
        context: Value,
    ) -> Result<Self, EngineError> {
        let step = pinned_step(definition, step_id)?;
        let StepKind::Task(spec) = &step.kind else {
            return Err(EngineError::Definition(format!(
                "step `{step_id}` is no longer a task"
            )));
        };
        Ok(Self::new(
            &definition.name,
            run_id,
            step,
            spec,
            seq,
            number,
            context,
        ))
    }

    pub(in crate::engine) fn new(
        workflow: &str,
        run_id: RunId,
        step: &Step,
        spec: &TaskSpec,
        seq: i32,
        number: i32,
        context: Value,
    ) -> Self {
        Self {
            workflow: workflow.to_owned(),
            spec: spec.clone(),
            seq,
            call: HandlerCall {
                run_id,
                step_id: step.id.clone(),
                attempt: number,
                context,
                params: spec.params.clone(),
            },
        }
    }
}
