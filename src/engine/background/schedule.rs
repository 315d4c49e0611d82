//! Recurring schedules from `jobs/*.toml`: each tick starts exactly one run, however many
//! replicas run the clock, because the run's idempotency key is `schedule:<name>:<tick>`.
//! A tick missed while every replica was down is started once when one comes back.
//!
//! ```toml
//! name = "nightly_retention"
//! cron = "0 3 * * *"          # 5 fields (minute first) or 6 with seconds first
//! timezone = "Europe/Berlin"
//! workflow = "retention_sweep"
//! input = { dry_run = false }
//! ```

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use crate::engine::Engine;
use crate::engine::commands::runs::check_input;
use crate::engine::commands::{IdempotencyKey, StartRun};
use crate::engine::definitions::catalog::{Catalog, toml_files};
use crate::engine::definitions::validate::{DefinitionError, DefinitionErrors, toml_problem};
use crate::store;

/// Most ticks examined when looking for a missed one, so a per-second schedule that was
/// down for a year cannot stall start-up.
const MAX_TICKS_SCANNED: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: String,
    cron: String,
    #[serde(default = "utc")]
    timezone: String,
    workflow: String,
    #[serde(default)]
    input: Option<toml::Value>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Unique name.
    pub name: String,
    /// The cron expression as written.
    pub cron_text: String,
    /// Parsed cron expression.
    pub cron: cron::Schedule,
    /// Zone the expression is read in.
    pub timezone: Tz,
    /// Workflow each tick starts.
    pub workflow: String,
    /// Input each run gets.
    pub input: Value,
}

impl Schedule {
    /// The idempotency key of the run for `tick`.
    pub fn tick_key(&self, tick: DateTime<Utc>) -> String {
        format!("schedule:{}:{}", self.name, tick.to_rfc3339())
    }

    /// First tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&after.with_timezone(&self.timezone))
            .next()
            .map(|tick| tick.with_timezone(&Utc))
    }

    /// Every tick in `(after, until]`, oldest first (at most [`MAX_TICKS_SCANNED`]).
    pub fn ticks_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        self.cron
            .after(&after.with_timezone(&self.timezone))
            .take(MAX_TICKS_SCANNED)
            .map(|tick| tick.with_timezone(&Utc))
            .take_while(|tick| *tick <= until)
            .collect()
    }
}

/// Loads `*.toml` schedules from `dir`, checking each names a loaded workflow.
pub fn load_dir(dir: &Path, catalog: &Catalog) -> Result<Vec<Schedule>, DefinitionErrors> {
    let mut errors = Vec::new();
    let mut schedules: Vec<Schedule> = Vec::new();
    for path in toml_files(dir)? {
        let file = path.display().to_string();
        let problem = |message: String| DefinitionError {
            file: file.clone(),
            step: None,
            message,
        };
        let parsed = std::fs::read_to_string(&path)
            .map_err(|error| error.to_string())
            .and_then(|text| {
                toml::from_str::<RawSchedule>(&text).map_err(|e| toml_problem(&text, &e))
            });
        let raw = match parsed {
            Ok(raw) => raw,
            Err(message) => {
                errors.push(problem(format!("not a valid schedule: {message}")));
                continue;
            }
        };
        match build(raw, catalog) {
            Ok(schedule) if schedules.iter().any(|s| s.name == schedule.name) => {
                errors.push(problem(format!(
                    "schedule name `{}` is used twice",
                    schedule.name
                )));
            }
            Ok(schedule) => schedules.push(schedule),
            Err(message) => errors.push(problem(message)),
        }
    }
    if errors.is_empty() {
        Ok(schedules)
    } else {
        Err(DefinitionErrors(errors))
    }
}

fn build(raw: RawSchedule, catalog: &Catalog) -> Result<Schedule, String> {
    let fields = raw.cron.split_whitespace().count();
    // Accept the common 5-field form by pinning seconds to 0.
    let expression = if fields == 5 {
        format!("0 {}", raw.cron)
    } else {
        raw.cron.clone()
    };
    let cron = cron::Schedule::from_str(&expression)
        .map_err(|error| format!("cron `{}` is not valid: {error}", raw.cron))?;
    let timezone: Tz = raw
        .timezone
        .parse()
        .map_err(|_| format!("timezone `{}` is not an IANA zone name", raw.timezone))?;
    let Some(definition) = catalog.latest(&raw.workflow) else {
        return Err(format!("workflow `{}` is not defined", raw.workflow));
    };
    let input = match raw.input {
        None => Value::Object(Default::default()),
        Some(input) => serde_json::to_value(input).map_err(|e| e.to_string())?,
    };
    // A schedule whose input fails its workflow's schema could never start a run: refuse
    // it here rather than log the failure at every tick.
    if let Some(schema) = &definition.input_schema {
        check_input(schema, &input).map_err(|error| {
            format!(
                "its input cannot start workflow `{}`: {error}",
                raw.workflow
            )
        })?;
    }
    Ok(Schedule {
        name: raw.name,
        cron_text: raw.cron,
        cron,
        timezone,
        workflow: raw.workflow,
        input,
    })
}

/// Runs the clock: starts the latest missed tick of each schedule, then every tick as it
/// falls due, until `shutdown` resolves.
pub async fn run_scheduler(
    engine: Engine,
    schedules: Vec<Schedule>,
    shutdown: BoxFuture<'static, ()>,
) {
    if schedules.is_empty() {
        shutdown.await;
        return;
    }
    let clock = async {
        let mut checked_until = Utc::now();
        for schedule in &schedules {
            if let Err(error) = start_missed_tick(&engine, schedule, checked_until).await {
                tracing::error!(schedule = %schedule.name, error = %error, "could not start a missed tick");
            }
        }
        loop {
            let next = schedules
                .iter()
                .filter_map(|s| s.next_after(checked_until))
                .min();
            let Some(next) = next else { return };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let now = Utc::now();
            for schedule in &schedules {
                for tick in schedule.ticks_between(checked_until, now) {
                    if let Err(error) = start_tick(&engine, schedule, tick).await {
                        tracing::error!(schedule = %schedule.name, %tick, error = %error, "could not start a scheduled run");
                    }
                }
            }
            checked_until = now;
        }
    };
    tokio::select! {
        _ = clock => {}
        _ = shutdown => {}
    }
}

async fn start_missed_tick(
    engine: &Engine,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<(), crate::engine::EngineError> {
    let row = {
        let mut conn = engine.pool().acquire().await?;
        store::schedules::ensure(&mut conn, &schedule.name).await?
    };
    let since = row.last_tick_at.unwrap_or(row.first_seen_at);
    // Only the latest missed tick runs: a nightly sweep down for a week runs once, not seven times.
    if let Some(tick) = schedule.ticks_between(since, now).pop() {
        tracing::info!(schedule = %schedule.name, %tick, "starting a tick missed while no replica ran");
        start_tick(engine, schedule, tick).await?;
    }
    Ok(())
}

/// Starts the run for one tick; a replica that lost the race gets the winner's run back.
pub async fn start_tick(
    engine: &Engine,
    schedule: &Schedule,
    tick: DateTime<Utc>,
) -> Result<(), crate::engine::EngineError> {
    let (run, created) = engine
        .start_run(StartRun {
            workflow: schedule.workflow.clone(),
            input: schedule.input.clone(),
            workspace_id: None,
            idempotency_key: Some(IdempotencyKey::service(schedule.tick_key(tick))),
            initiator: format!("schedule:{}", schedule.name),
        })
        .await?;
    if created {
        tracing::info!(schedule = %schedule.name, %tick, run.id = %run.id, "scheduled run started");
    }
    let mut conn = engine.pool().acquire().await?;
    store::schedules::record_tick(&mut conn, &schedule.name, tick).await?;
    Ok(())
}
