//! SQL, and only SQL: every function takes a `&mut PgConnection` so callers compose
//! transactions. Queries are checked at compile time against the committed `.sqlx/` cache.
//!
//! Statements over many rows (the engine's batches) find their rows with `key = any($n)`
//! even where they also join the key to `unnest($n)` of parameter arrays. Prepared
//! statements soon run with a generic plan, which cannot see the arrays: it takes `unnest`
//! for 100 rows and, on a table of a few thousand, prefers a sequential scan and hash join
//! (measured: a one-run save took 3.4 ms and `runs` was read sequentially 12,700 times
//! in one benchmark drain), while it takes `= any($n)` for a handful of rows and uses the
//! index. Planning each execution afresh instead costs more than the statement itself
//! (~1.8 ms of planning for the run save).
//!
//! For the same reason a batched statement filters on nothing else an index could serve,
//! and reads a queue-like table's keys before joining them: the generic plan prices such a
//! filter or join by statistics taken when the table looked different (few runs running,
//! no entry unchained) and scans past a whole backlog (src/store/attempts.rs,
//! src/store/audit.rs). Nor does a statement join one CTE of a batch to another: the
//! planner takes a CTE for one row and compares every pair in a nested loop; each row is
//! found from the other by primary key instead (the claim, src/store/attempts.rs).

pub mod attempts;
pub mod audit;
pub mod console_sessions;
pub mod definitions;
pub mod events;
pub mod graph_calls;
pub mod history;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod maintenance;
pub mod metrics;
pub mod people;
pub mod runs;
pub mod schedules;
pub mod sla;
pub mod starts;
pub mod status;
pub mod steps;
pub mod workspace_refs;

pub use sqlx::PgConnection;
