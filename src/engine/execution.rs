//! Executing steps: the apalis [`worker`]s and their monitor; the [`executor`] that
//! claims a step job and calls its handler with an [`attempt`]; [`completion`] recording
//! ended attempts and continuing runs inline; [`group_commit`] writing many claims and
//! completions per transaction; the [`eager`] hand-off of steps a command makes due; and
//! [`transition`], which moves a locked run between steps, gathering the rows
//! [`changes`] writes in one statement per table.
//!
//! Every state change and the enqueue of what comes next commit together: a crash can
//! repeat a step, never lose or skip one.

pub mod attempt;
pub mod changes;
pub mod completion;
pub mod eager;
pub mod executor;
pub mod group_commit;
pub mod transition;
pub mod worker;
