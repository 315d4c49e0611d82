//! The step graph of a definition: reachability from the first step, and cycles in
//! which no step waits (they would spin forever).

use std::collections::HashSet;

use crate::engine::definitions::definition::{Step, StepKind, Target, outcome};

/// Every target a step can lead to.
fn edges(step: &Step) -> Vec<Target> {
    let mut targets: Vec<Target> = step.on.values().copied().collect();
    let primary = match &step.kind {
        StepKind::Task(_) => None,
        StepKind::Approval(spec) => {
            targets.push(spec.on_timeout);
            Some(outcome::APPROVED)
        }
        StepKind::WaitEvent(spec) => {
            targets.push(spec.on_timeout);
            Some(outcome::RECEIVED)
        }
        StepKind::Timer(_) => Some(outcome::OK),
    };
    // Tasks may return outcomes of their own, so the default edge always exists for them.
    if primary.is_none_or(|outcome| !step.on.contains_key(outcome)) {
        targets.push(step.next);
    }
    targets
}

/// Problems with the step graph as (step id, message): unreachable steps and cycles
/// in which no step waits.
pub fn check_graph(steps: &[Step]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let successors: Vec<Vec<usize>> = steps
        .iter()
        .map(|step| {
            edges(step)
                .into_iter()
                .filter_map(|target| match target {
                    Target::Step(index) => Some(index),
                    _ => None,
                })
                .collect()
        })
        .collect();

    let mut reachable = HashSet::from([0usize]);
    let mut frontier = vec![0usize];
    while let Some(index) = frontier.pop() {
        for &next in &successors[index] {
            if reachable.insert(next) {
                frontier.push(next);
            }
        }
    }
    for (index, step) in steps.iter().enumerate() {
        if !reachable.contains(&index) {
            problems.push((
                step.id.clone(),
                "unreachable: no transition leads to this step".to_owned(),
            ));
        }
    }

    // A cycle is only safe if something in it waits; look for cycles among non-waiting steps.
    let mut state = vec![Visit::New; steps.len()];
    let mut path = Vec::new();
    for start in 0..steps.len() {
        if let Some(cycle) = find_cycle(start, steps, &successors, &mut state, &mut path) {
            let names: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
            problems.push((
                steps[cycle[0]].id.clone(),
                format!(
                    "cycle without a wait step: {} -> {}",
                    names.join(" -> "),
                    names[0]
                ),
            ));
            return problems;
        }
    }
    problems
}

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    New,
    OnPath,
    Done,
}

fn find_cycle(
    index: usize,
    steps: &[Step],
    successors: &[Vec<usize>],
    state: &mut [Visit],
    path: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    if steps[index].kind.waits() || state[index] == Visit::Done {
        return None;
    }
    if state[index] == Visit::OnPath {
        let start = path.iter().position(|&i| i == index).unwrap_or(0);
        return Some(path[start..].to_vec());
    }
    state[index] = Visit::OnPath;
    path.push(index);
    for &next in &successors[index] {
        if let Some(cycle) = find_cycle(next, steps, successors, state, path) {
            return Some(cycle);
        }
    }
    path.pop();
    state[index] = Visit::Done;
    None
}
