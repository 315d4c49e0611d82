//! The data lifecycle domain's SQL: legal holds, retention policies and sweep counts.

pub mod holds;
pub mod policies;
pub mod sweeps;
