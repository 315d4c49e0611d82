//! What the engine does on its own, on worker processes: recurring runs from
//! `jobs/*.toml` ([`schedule`]) and [`maintenance`] (pruning finished job rows, rescuing
//! stranded runs).

pub mod maintenance;
pub mod schedule;
