//! Integration tests: a real PostgreSQL, a fresh database and service per test.

mod broken_chain;
mod client;
mod cluster;
mod crash;
mod definitions;
mod docs;
mod errors;
mod graph;
mod handoff;
mod helpers;
mod layers;
mod maintenance;
mod messages;
mod metrics;
mod migrations;
mod onboarding;
mod openapi;
mod restart;
mod runs;
mod scale;
mod schedules;
mod security;
mod templates;
mod tls;
mod webhooks;
mod workflows;
