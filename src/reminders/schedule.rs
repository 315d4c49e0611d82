//! When each reminder goes out: the appointment's start (an instant) minus the offset (an
//! absolute duration: "24 h before" is 24 hours before, across a DST change too), moved
//! earlier out of the quiet hours as the customer's clock reads them (IANA zone,
//! DST-correct), and skipped with its reason when that moment is already past. Earlier,
//! never later: later could pass the appointment.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How close to now a reminder may still be planned: one that would go out sooner is
/// skipped as too late.
pub const MIN_LEAD: Duration = Duration::seconds(5);

/// A nightly (or any daily) window in which nothing is sent, on the customer's clock:
/// sending at `from` or at `to` is allowed, anything strictly between is not. `from` after
/// `to` wraps midnight (21:00–08:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// When it starts.
    pub from: NaiveTime,
    /// When it ends.
    pub to: NaiveTime,
}

impl QuietHours {
    /// Reads `HH:MM` pairs.
    pub fn parse(from: &str, to: &str) -> Option<QuietHours> {
        let time = |text: &str| NaiveTime::parse_from_str(text, "%H:%M").ok();
        let (from, to) = (time(from)?, time(to)?);
        (from != to).then_some(QuietHours { from, to })
    }

    /// Whether a local time of day is inside the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.from < self.to {
            time > self.from && time < self.to
        } else {
            time > self.from || time < self.to
        }
    }

    /// The day the window containing local `date`/`time` started on.
    fn started_on(&self, date: NaiveDate, time: NaiveTime) -> NaiveDate {
        if self.from > self.to && time < self.to {
            date.pred_opt().unwrap_or(date)
        } else {
            date
        }
    }
}

/// Where a reminder lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// Sent at this instant (`shifted`: moved earlier out of the quiet hours).
    At {
        /// When.
        at: DateTime<Utc>,
        /// Whether the quiet hours moved it.
        shifted: bool,
    },
    /// Not sent: the moment to send it has passed (or is closer than [`MIN_LEAD`]).
    TooLate {
        /// When it would have gone out.
        would_have_been: DateTime<Utc>,
    },
}

/// The instant `local` (a wall-clock time in `zone`) names: the earlier of two in a
/// repeated hour, and the first instant after a skipped one.
fn instant(zone: Tz, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        // In a DST gap: the wall clock jumps; step forward to the first time that exists.
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

/// When the reminder `offset` before `start` goes out for a customer in `zone`.
pub fn plan(
    start: DateTime<Utc>,
    offset: Duration,
    zone: Tz,
    quiet: Option<QuietHours>,
    now: DateTime<Utc>,
) -> Planned {
    let due = start - offset;
    let (at, shifted) = match quiet {
        Some(quiet) => {
            let local = due.with_timezone(&zone).naive_local();
            if quiet.contains(local.time()) {
                let day = quiet.started_on(local.date(), local.time());
                (instant(zone, day.and_time(quiet.from)), true)
            } else {
                (due, false)
            }
        }
        None => (due, false),
    };
    if at < now + MIN_LEAD {
        return Planned::TooLate {
            would_have_been: at,
        };
    }
    Planned::At { at, shifted }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn night() -> Option<QuietHours> {
        QuietHours::parse("21:00", "08:00")
    }

    #[test]
    fn send_times_follow_the_customers_clock_across_dst_and_quiet_hours() {
        let now = utc("2026-01-01T00:00:00Z");
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        let h = Duration::hours;
        // (what, start, offset, zone, quiet, expected)
        let cases = [
            (
                "24 h before, across the October change: 24 hours, not the same wall time",
                "2026-10-25T09:00:00Z",
                h(24),
                berlin,
                night(),
                "2026-10-24T09:00:00Z",
                false,
            ),
            (
                "2 h before 08:30 CET is 06:30: moved to 21:00 the evening before, still CEST",
                "2026-10-25T07:30:00Z",
                h(2),
                berlin,
                night(),
                "2026-10-24T19:00:00Z",
                true,
            ),
            (
                "2 h before 09:00 CEST on the March change is 07:00: moved to 21:00 CET",
                "2026-03-29T07:00:00Z",
                h(2),
                berlin,
                night(),
                "2026-03-28T20:00:00Z",
                true,
            ),
            (
                "New York, the day before its own November change",
                "2026-11-01T12:30:00Z",
                h(24),
                new_york,
                night(),
                "2026-10-31T12:30:00Z",
                false,
            ),
            (
                "New York at 23:00 EDT is quiet: 21:00 EDT the same evening",
                "2026-10-10T05:00:00Z",
                h(2),
                new_york,
                night(),
                "2026-10-10T01:00:00Z",
                true,
            ),
            (
                "exactly 21:00 and exactly 08:00 are not quiet",
                "2026-06-10T21:00:00Z",
                h(2),
                berlin,
                night(),
                "2026-06-10T19:00:00Z",
                false,
            ),
            (
                "exactly 08:00 Berlin",
                "2026-06-11T08:00:00Z",
                h(2),
                berlin,
                night(),
                "2026-06-11T06:00:00Z",
                false,
            ),
            (
                "a window inside the day (lunch) moves to its start the same day",
                "2026-06-10T12:00:00Z",
                h(1),
                berlin,
                QuietHours::parse("12:00", "14:00"),
                "2026-06-10T10:00:00Z",
                true,
            ),
            (
                "no quiet hours: exactly the offset",
                "2026-06-11T05:00:00Z",
                h(2),
                berlin,
                None,
                "2026-06-11T03:00:00Z",
                false,
            ),
        ];
        for (what, start, offset, zone, quiet, expected, shifted) in cases {
            assert_eq!(
                plan(utc(start), offset, zone, quiet, now),
                Planned::At {
                    at: utc(expected),
                    shifted
                },
                "{what}"
            );
        }
    }

    #[test]
    fn a_reminder_whose_moment_has_passed_is_too_late() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let start = utc("2026-06-11T06:30:00Z"); // 08:30 CEST
        // Half an hour before the start, a 2 h reminder has passed.
        let now = utc("2026-06-11T06:00:00Z");
        assert_eq!(
            plan(start, Duration::hours(2), berlin, None, now),
            Planned::TooLate {
                would_have_been: utc("2026-06-11T04:30:00Z")
            }
        );
        // At 21:30 the evening before, a 1 h reminder (07:30, quiet) would move to 21:00,
        // which has passed.
        let now = utc("2026-06-10T19:30:00Z");
        assert_eq!(
            plan(start, Duration::hours(1), berlin, night(), now),
            Planned::TooLate {
                would_have_been: utc("2026-06-10T19:00:00Z")
            }
        );
        // Closer than the minimum lead counts as passed.
        let now = utc("2026-06-11T05:29:57Z");
        assert!(matches!(
            plan(start, Duration::hours(1), berlin, None, now),
            Planned::TooLate { .. }
        ));
    }

    #[test]
    fn quiet_hours_are_two_different_times_of_day() {
        assert!(QuietHours::parse("21:00", "21:00").is_none());
        assert!(QuietHours::parse("25:00", "08:00").is_none());
        let night = night().unwrap();
        assert!(night.contains(NaiveTime::from_hms_opt(23, 0, 0).unwrap()));
        assert!(night.contains(NaiveTime::from_hms_opt(3, 0, 0).unwrap()));
        assert!(!night.contains(NaiveTime::from_hms_opt(12, 0, 0).unwrap()));
    }
}
