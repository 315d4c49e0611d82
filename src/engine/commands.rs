//! What callers (the API, the console, domains) ask of runs: [`runs`] (start, cancel),
//! [`decisions`] (decide an approval) and [`events`] (post an event), each one transaction over the
//! locked run, the
//! approval [`policy`] checked inside a decision's transaction, and the [`queries`] that
//! read runs and open approvals for callers.

pub mod decisions;
pub mod events;
pub mod policy;
pub mod queries;
pub mod runs;

pub use decisions::Decision;
pub use events::{Event, EventReceipt};
pub use runs::{Actor, IdempotencyKey, KeyScope, StartRun};
