//! The data lifecycle domain's SQL: legal holds, runs waiting for them, retention
//! policies, sweep counts and erasure tallies.

pub mod hold_waits;
pub mod holds;
pub mod policies;
pub mod sweeps;
pub mod tallies;
