//! The transparency report, as large platforms publish it twice a year: requests
//! received in a half-year by instrument and by jurisdiction, the share where some data
//! was produced, how many were narrowed, rejected or came as emergencies, and the
//! accounts concerned (named in requests) and affected (whose records were produced).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::requests::{RequestError, at, unconfined};
use super::store::{disclosures, requests as store};
use crate::security::Caller;

/// A half-year, `2026-H2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The year.
    pub year: i32,
    /// 1 or 2.
    pub half: u32,
}

impl Period {
    /// Reads `YYYY-H1` or `YYYY-H2`.
    pub fn parse(text: &str) -> Option<Period> {
        let (year, half) = text.split_once("-H")?;
        let year: i32 = year.parse().ok().filter(|y| (2000..=9999).contains(y))?;
        let half: u32 = half.parse().ok().filter(|h| *h == 1 || *h == 2)?;
        Some(Period { year, half })
    }

    /// Its first instant and the first instant after it.
    pub fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = |year, month| {
            NaiveDate::from_ymd_opt(year, month, 1)
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|at| at.and_utc())
                .expect("the first of January or July is a date")
        };
        match self.half {
            1 => (start(self.year, 1), start(self.year, 7)),
            _ => (start(self.year, 7), start(self.year + 1, 1)),
        }
    }

    /// `2026-H2`.
    pub fn name(self) -> String {
        format!("{}-H{}", self.year, self.half)
    }
}

/// The counts of one group of requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests received.
    pub received: i64,
    /// Those where some data was produced (disclosed).
    pub produced: i64,
    /// Those whose approved scope was narrower than the requested one.
    pub narrowed: i64,
    /// Those rejected as legally insufficient.
    pub rejected: i64,
    /// Those made on an emergency basis.
    pub emergency: i64,
    /// Those still open.
    pub open: i64,
    /// Accounts (workspaces and customers) the requests named.
    pub accounts_requested: i64,
    /// Workspaces whose records were produced.
    pub accounts_affected: i64,
}

impl Counts {
    /// The share of requests where some data was produced, in percent (one decimal).
    pub fn produced_share(&self) -> f64 {
        if self.received == 0 {
            return 0.0;
        }
        (self.produced as f64 * 1000.0 / self.received as f64).round() / 10.0
    }
}

/// The report of one period.
#[derive(Debug, Clone)]
pub struct Report {
    /// The period.
    pub period: Period,
    /// All requests.
    pub total: Counts,
    /// By instrument.
    pub by_instrument: BTreeMap<String, Counts>,
    /// By jurisdiction.
    pub by_jurisdiction: BTreeMap<String, Counts>,
}

/// Whether a review left anything of the request out.
fn was_narrowed(narrowed: &Value) -> bool {
    let listed = |key: &str| match &narrowed[key] {
        Value::Array(items) => !items.is_empty(),
        Value::Null => false,
        _ => true,
    };
    let moved = |key: &str| narrowed[key]["requested"] != narrowed[key]["approved"];
    listed("workspaces")
        || listed("customers")
        || listed("categories")
        || moved("from")
        || moved("to")
}

#[derive(Default)]
struct Tally {
    counts: Counts,
    requested: BTreeSet<String>,
    affected: BTreeSet<String>,
}

impl Tally {
    fn finish(self) -> Counts {
        Counts {
            accounts_requested: self.requested.len() as i64,
            accounts_affected: self.affected.len() as i64,
            ..self.counts
        }
    }
}

/// The report of `period` (`YYYY-H1|H2`), by the instant each request was received.
pub async fn report(
    pool: &sqlx::PgPool,
    caller: &Caller,
    period: &str,
) -> Result<Report, RequestError> {
    unconfined(caller)?;
    let period = Period::parse(period).ok_or_else(|| {
        RequestError::Invalid(vec![at(
            "?period",
            "a half-year: YYYY-H1 (January to June) or YYYY-H2 (July to December)",
        )])
    })?;
    let (from, to) = period.bounds();
    let mut conn = pool.acquire().await?;
    let rows = store::received_between(&mut conn, from, to).await?;
    let mut total = Tally::default();
    let mut by_instrument: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_jurisdiction: BTreeMap<String, Tally> = BTreeMap::new();
    for row in rows {
        let mut requested = BTreeSet::new();
        for (key, prefix) in [("workspaces", "workspace:"), ("customers", "customer:")] {
            for item in row.requested_scope[key].as_array().into_iter().flatten() {
                if let Some(item) = item.as_str() {
                    requested.insert(format!("{prefix}{item}"));
                }
            }
        }
        let produced = row.disclosed_at.is_some();
        let affected: BTreeSet<String> = if produced {
            disclosures::package(&mut conn, row.id)
                .await?
                .and_then(|package| {
                    serde_json::from_value::<Vec<String>>(package.manifest["workspaces"].clone())
                        .ok()
                })
                .unwrap_or_default()
                .into_iter()
                .collect()
        } else {
            BTreeSet::new()
        };
        let jurisdiction = row.jurisdiction.to_uppercase();
        for tally in [
            &mut total,
            by_instrument.entry(row.instrument.clone()).or_default(),
            by_jurisdiction.entry(jurisdiction.clone()).or_default(),
        ] {
            let counts = &mut tally.counts;
            counts.received += 1;
            counts.produced += i64::from(produced);
            counts.narrowed += i64::from(row.narrowed.as_ref().is_some_and(was_narrowed));
            counts.rejected += i64::from(row.outcome.as_deref() == Some("rejected"));
            counts.emergency += i64::from(row.instrument == "emergency");
            counts.open += i64::from(row.closed_at.is_none());
            tally.requested.extend(requested.iter().cloned());
            tally.affected.extend(affected.iter().cloned());
        }
    }
    Ok(Report {
        period,
        total: total.finish(),
        by_instrument: by_instrument
            .into_iter()
            .map(|(key, tally)| (key, tally.finish()))
            .collect(),
        by_jurisdiction: by_jurisdiction
            .into_iter()
            .map(|(key, tally)| (key, tally.finish()))
            .collect(),
    })
}

/// The report as CSV: one row per group (`total`, each instrument, each jurisdiction).
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "period,group,key,received,produced,produced_share_percent,narrowed,rejected,emergency,open,accounts_requested,accounts_affected\n",
    );
    let mut line = |group: &str, key: &str, c: &Counts| {
        let key = key.replace(['"', ',', '\n', '\r'], " ");
        out.push_str(&format!(
            "{},{group},{key},{},{},{:.1},{},{},{},{},{},{}\n",
            report.period.name(),
            c.received,
            c.produced,
            c.produced_share(),
            c.narrowed,
            c.rejected,
            c.emergency,
            c.open,
            c.accounts_requested,
            c.accounts_affected,
        ));
    };
    line("total", "all", &report.total);
    for (key, counts) in &report.by_instrument {
        line("instrument", key, counts);
    }
    for (key, counts) in &report.by_jurisdiction {
        line("jurisdiction", key, counts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_half_year() {
        let h2 = Period::parse("2026-H2").unwrap();
        let (from, to) = h2.bounds();
        assert_eq!(from.to_rfc3339(), "2026-07-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert_eq!(h2.name(), "2026-H2");
        for bad in ["2026", "2026-H3", "26-H1", "2026-h1", "2026-H1x"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn narrowing_is_any_axis_left_out() {
        let untouched = serde_json::json!({
            "workspaces": [], "customers": [], "categories": [],
            "from": {"requested": null, "approved": null}, "to": {"requested": null, "approved": null},
        });
        assert!(!was_narrowed(&untouched));
        let mut fewer = untouched.clone();
        fewer["categories"] = serde_json::json!(["inbound_messages"]);
        assert!(was_narrowed(&fewer));
        let mut later = untouched.clone();
        later["from"]["approved"] = serde_json::json!("2026-08-01T00:00:00Z");
        assert!(was_narrowed(&later));
    }
}
