//! Workflow definitions: the TOML format ([`definition`]), its validation ([`validate`],
//! with the step graph's checks in [`graph`]), and the [`catalog`] of definitions loaded
//! from `workflows/` and of every version runs are pinned to. Read once at start (and by
//! `workflows check`); nothing here runs a step.

pub mod catalog;
pub mod definition;
pub mod graph;
pub mod validate;
