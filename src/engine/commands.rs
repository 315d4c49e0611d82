//! What callers (the API, the console, domains) ask of runs: [`runs`] (start, cancel,
//! decide an approval, post an event, each one transaction over the locked run), the
//! approval [`policy`] checked inside a decision's transaction, and the [`queries`] that
//! read runs and open approvals for callers.

pub mod policy;
pub mod queries;
pub mod runs;

pub use runs::{Actor, Decision, Event, EventReceipt, IdempotencyKey, KeyScope, StartRun};
