//! SQL, and only SQL: every function takes a `&mut PgConnection` so callers compose
//! transactions. Queries are checked at compile time against the committed `.sqlx/` cache.

pub mod attempts;
pub mod audit;
pub mod definitions;
pub mod events;
pub mod graph_calls;
pub mod history;
pub mod jobs;
pub mod keys;
pub mod maintenance;
pub mod metrics;
pub mod runs;
pub mod schedules;
pub mod steps;
pub mod templates;
pub mod webhooks;
pub mod workspaces;

pub use sqlx::PgConnection;
