//! Bazaarstreet Workflows: the back office of a WhatsApp Business platform — durable,
//! multi-step workflows on PostgreSQL with an HTTP API to start, inspect and approve them.
//!
//! Where things live:
//! - [`config`]: typed settings from the environment.
//! - [`app`]: startup and shutdown of API, workers and scheduler.
//! - [`api`]: HTTP resources, problem bodies, the OpenAPI document.
//! - [`engine`]: definitions, runs, steps, approvals, events, timers, retries, schedules.
//! - [`store`]: SQL only.
//! - [`db`]: connecting and migrating.
//! - [`bench`]: the throughput and latency benchmark.

pub mod api;
pub mod app;
pub mod bench;
pub mod config;
pub mod db;
pub mod domain;
pub mod domains;
pub mod duration;
pub mod engine;
pub mod logging;
pub mod meta;
pub mod metrics;
pub mod sandbox;
pub mod security;
pub mod store;
pub mod whatsapp;
