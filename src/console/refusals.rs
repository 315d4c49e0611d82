//! Why a decision was not taken, in the words a person reads: the approval policy's rule
//! ("you filed this request") instead of its name, and a command's problems with their
//! fields. Privacy and authority pages say it the same way.

use crate::engine::{EngineError, InputProblem};

/// An engine refusal in plain words, or `None` when the error is no refusal.
pub fn engine(error: &EngineError) -> Option<String> {
    let EngineError::Refused(refusal) = error else {
        return None;
    };
    Some(match refusal.rule {
        "not_initiator" => "You filed this request, so another person must decide it.".into(),
        "distinct_from" => "You already decided an earlier step of this request; this step must be decided by someone else.".into(),
        "role" => format!("Your role may not decide this step. {}", refusal.detail),
        "not_named" => "You are named in this request, so you may not decide it.".into(),
        _ => refusal.detail.clone(),
    })
}

/// A command's input problems, each with the field it is about.
pub fn problems(problems: &[InputProblem]) -> String {
    problems
        .iter()
        .map(|p| match p.pointer.trim_start_matches('/') {
            "" => p.message.clone(),
            field => format!("{}: {}", field.replace('/', " "), p.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
