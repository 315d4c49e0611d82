//! Bazaarstreet Workflows: the back office of a WhatsApp Business platform — durable,
//! multi-step workflows on PostgreSQL with an HTTP API to start, inspect and approve them.
//!
//! Where things live (docs/ARCHITECTURE.md has the layer picture and a concept -> file
//! table):
//! - [`app`]: startup, wiring and shutdown of API, workers, scheduler and background loops.
//! - [`config`]: typed settings from the environment; [`duration`]: `2s`, `1h30m`.
//! - [`logging`]: log lines as text or JSON; [`metrics`]: this process's counters.
//! - [`db`]: connecting and migrating; [`sla`]: on track, due soon, overdue.
//! - [`api`]: HTTP resources, problem bodies, the OpenAPI document; calls commands only.
//! - [`domain`]: what a product domain is; [`domains`]: which ones the service runs.
//! - [`whatsapp`]: the WhatsApp domain (workspaces, onboarding, templates, webhooks).
//! - [`authority`]: authority requests (the instrument rules and scope narrowing so far).
//! - [`privacy`]: privacy requests (deletion, access, disconnect) and their deadlines.
//! - [`engine`]: definitions, handlers, execution, commands on runs, schedules.
//! - [`security`]: roles, permissions, visibility, keys, the audit ledger.
//! - [`meta`]: the Graph API client, wire formats, webhook signing; [`sandbox`]: Meta's
//!   stand-in.
//! - [`store`]: SQL only.
//! - [`bench`]: the throughput and latency benchmark.

pub mod api;
pub mod app;
pub mod authority;
pub mod bench;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod domains;
pub mod duration;
pub mod engine;
pub mod evidence;
pub mod lifecycle;
pub mod logging;
pub mod meta;
pub mod metrics;
pub mod privacy;
pub mod reminders;
pub mod sandbox;
pub mod security;
pub mod sla;
pub mod store;
pub mod whatsapp;
