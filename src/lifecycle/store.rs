//! The data lifecycle domain's SQL: legal holds, runs waiting for them, retention
//! policies and sweep counts.

pub mod hold_waits;
pub mod holds;
pub mod policies;
pub mod sweeps;
