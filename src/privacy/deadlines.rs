//! Statutory deadlines: one rule set per jurisdiction, as calendar arithmetic (never
//! "+30 days" where the law says "one month").
//!
//! - **GDPR** (Art 12(3)): one month of receipt, counted from the day after receipt to the
//!   corresponding date of the next month; a month without that date ends on its last day;
//!   a due date on a Saturday or Sunday moves to the next Monday (public holidays are not
//!   modelled). Extendable by up to two further months in total, with a reason and a
//!   notice recorded before the original due date.
//! - **CCPA** (regs § 7021): receipt acknowledged within 10 business days (Monday to
//!   Friday, from the day after receipt); a response within 45 calendar days of receipt;
//!   one extension of 45 days (90 in all), with notice before the original due date.
//! - **Other**: 30 calendar days, one extension of 30 days with notice: the platform's own
//!   rule where no statute is named, no looser than the two above.
//!
//! Days are UTC calendar days; a request is due at the end (23:59:59 UTC) of its due day.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

/// The law a request is handled under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jurisdiction {
    /// EU/EEA and UK GDPR.
    Gdpr,
    /// California (CCPA/CPRA).
    Ccpa,
    /// Anything else: the platform's own rule.
    Other,
}

impl Jurisdiction {
    /// Every jurisdiction's wire name.
    pub const NAMES: [&'static str; 3] = ["gdpr", "ccpa", "other"];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gdpr => "gdpr",
            Self::Ccpa => "ccpa",
            Self::Other => "other",
        }
    }

    /// The jurisdiction named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gdpr" => Some(Self::Gdpr),
            "ccpa" => Some(Self::Ccpa),
            "other" => Some(Self::Other),
            _ => None,
        }
    }
}

/// A request's statutory dates, from its receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Receipt must be acknowledged by the end of this day (CCPA only).
    pub acknowledge_by: Option<NaiveDate>,
    /// The response is due by the end of this day.
    pub due_on: NaiveDate,
    /// The latest day extensions may move the due date to.
    pub latest_extended: NaiveDate,
    /// How many extensions the law allows.
    pub extensions_allowed: u32,
}

/// The dates of a request of `jurisdiction` received on `received`.
pub fn deadlines(jurisdiction: Jurisdiction, received: NaiveDate) -> Deadlines {
    match jurisdiction {
        Jurisdiction::Gdpr => {
            let start = received + Days::new(1);
            Deadlines {
                acknowledge_by: None,
                due_on: next_working_day(months_after(start, 1)),
                latest_extended: next_working_day(months_after(start, 3)),
                extensions_allowed: 2,
            }
        }
        Jurisdiction::Ccpa => Deadlines {
            acknowledge_by: Some(business_days_after(received, 10)),
            due_on: received + Days::new(45),
            latest_extended: received + Days::new(90),
            extensions_allowed: 1,
        },
        Jurisdiction::Other => Deadlines {
            acknowledge_by: None,
            due_on: received + Days::new(30),
            latest_extended: received + Days::new(60),
            extensions_allowed: 1,
        },
    }
}

/// Why an extension was refused: each names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionRefused {
    /// No reason was given.
    #[error("an extension needs a reason")]
    NoReason,
    /// The notice to the requester was recorded on or after the original due date.
    #[error("the extension notice must be recorded before the original due date ({0})")]
    NoticeTooLate(NaiveDate),
    /// The law allows no more extensions.
    #[error("{0} allows {1} extension(s); this request has them")]
    NoneLeft(&'static str, u32),
    /// The new date is past the latest the law allows.
    #[error("the due date can be extended to {0} at the latest")]
    BeyondMaximum(NaiveDate),
    /// The new date is not later than the current one.
    #[error("an extension must move the due date later than {0}")]
    NotLater(NaiveDate),
}

/// The new due day of an extension to `to` of a request with `dates`, currently due
/// `current` after `used` extensions, whose notice was recorded at `notice_at`.
pub fn extend(
    jurisdiction: Jurisdiction,
    dates: &Deadlines,
    current: NaiveDate,
    used: u32,
    to: NaiveDate,
    reason: &str,
    notice_at: DateTime<Utc>,
) -> Result<NaiveDate, ExtensionRefused> {
    if reason.trim().is_empty() {
        return Err(ExtensionRefused::NoReason);
    }
    if notice_at >= end_of(dates.due_on) {
        return Err(ExtensionRefused::NoticeTooLate(dates.due_on));
    }
    if used >= dates.extensions_allowed {
        return Err(ExtensionRefused::NoneLeft(
            jurisdiction.as_str(),
            dates.extensions_allowed,
        ));
    }
    if to <= current {
        return Err(ExtensionRefused::NotLater(current));
    }
    if to > dates.latest_extended {
        return Err(ExtensionRefused::BeyondMaximum(dates.latest_extended));
    }
    Ok(to)
}

pub use crate::sla::SlaState;

/// The state at `now` of a request due at `due_at`: due soon from 7 days before.
pub fn sla_state(due_at: DateTime<Utc>, now: DateTime<Utc>) -> SlaState {
    crate::sla::state(due_at, now, chrono::Duration::days(7))
}

/// The instant a day ends: 23:59:59 UTC.
pub fn end_of(day: NaiveDate) -> DateTime<Utc> {
    let last = NaiveTime::from_hms_opt(23, 59, 59).expect("a valid time");
    Utc.from_utc_datetime(&day.and_time(last))
}

/// The corresponding day `months` later; the month's last day where it has no such day.
fn months_after(day: NaiveDate, months: u32) -> NaiveDate {
    day.checked_add_months(Months::new(months))
        .expect("dates stay within chrono's range")
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `day`, or the Monday after it when it falls on a weekend.
fn next_working_day(mut day: NaiveDate) -> NaiveDate {
    while is_weekend(day) {
        day = day + Days::new(1);
    }
    day
}

/// The `n`th working day after `day`.
fn business_days_after(mut day: NaiveDate, n: u32) -> NaiveDate {
    let mut left = n;
    while left > 0 {
        day = day + Days::new(1);
        if !is_weekend(day) {
            left -= 1;
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn gdpr_due_dates_follow_the_calendar_month_rule() {
        // (received, due): the month is counted from the day after receipt.
        let cases = [
            ("2026-09-02", "2026-10-05"), // 09-03 + 1 month = Sat 10-03 -> Mon 10-05
            ("2026-09-09", "2026-10-12"), // Sat 10-10 -> Mon 10-12
            ("2026-09-14", "2026-10-15"), // Thu 10-15: no roll
            ("2025-01-30", "2025-02-28"), // from Jan 31: February has no 31st -> its last day (Fri)
            ("2028-01-30", "2028-02-29"), // leap year: Feb 29 (Tue)
            ("2026-01-30", "2026-03-02"), // Feb 28 2026 is a Saturday -> Mon Mar 2
            ("2027-01-30", "2027-03-01"), // Feb 28 2027 is a Sunday -> Mon Mar 1
            ("2026-12-31", "2027-02-01"), // from Jan 1 -> Feb 1 (Mon)
            ("2026-03-30", "2026-04-30"), // from Mar 31 -> Apr 30 (Thu)
        ];
        for (received, due) in cases {
            let dates = deadlines(Jurisdiction::Gdpr, day(received));
            assert_eq!(dates.due_on, day(due), "received {received}");
            assert_eq!(dates.acknowledge_by, None);
        }
        // Two further months: from Jan 31 + 3 months = Apr 30 (Wed).
        assert_eq!(
            deadlines(Jurisdiction::Gdpr, day("2025-01-30")).latest_extended,
            day("2025-04-30")
        );
    }

    #[test]
    fn ccpa_acknowledges_in_ten_business_days_and_answers_in_45_calendar_days() {
        // (received, acknowledge by, due)
        let cases = [
            ("2026-12-04", "2026-12-18", "2027-01-18"), // Fri: two weekends crossed
            ("2026-12-05", "2026-12-18", "2027-01-19"), // Sat: counting starts Monday
            ("2026-12-07", "2026-12-21", "2027-01-21"), // Mon
            ("2026-12-02", "2026-12-16", "2027-01-16"), // Wed; 45 calendar days may end on a Saturday
        ];
        for (received, ack, due) in cases {
            let dates = deadlines(Jurisdiction::Ccpa, day(received));
            assert_eq!(dates.acknowledge_by, Some(day(ack)), "received {received}");
            assert_eq!(dates.due_on, day(due), "received {received}");
            assert_eq!(dates.latest_extended, day(received) + Days::new(90));
        }
    }

    #[test]
    fn extensions_need_a_reason_a_timely_notice_and_stay_within_the_maximum() {
        let received = day("2025-01-30");
        let dates = deadlines(Jurisdiction::Gdpr, received);
        let before_due = end_of(day("2025-02-20"));
        let extend_to = |to: &str, used, reason: &str, notice| {
            extend(
                Jurisdiction::Gdpr,
                &dates,
                dates.due_on,
                used,
                day(to),
                reason,
                notice,
            )
        };
        assert_eq!(
            extend_to("2025-03-31", 0, "complex request", before_due),
            Ok(day("2025-03-31"))
        );
        assert_eq!(
            extend_to("2025-04-30", 1, "many requests", before_due),
            Ok(day("2025-04-30"))
        );
        assert_eq!(
            extend_to("2025-05-01", 0, "complex", before_due),
            Err(ExtensionRefused::BeyondMaximum(day("2025-04-30")))
        );
        assert_eq!(
            extend_to("2025-03-31", 0, "  ", before_due),
            Err(ExtensionRefused::NoReason)
        );
        assert_eq!(
            extend_to("2025-03-31", 0, "complex", end_of(day("2025-02-28"))),
            Err(ExtensionRefused::NoticeTooLate(day("2025-02-28")))
        );
        assert_eq!(
            extend_to("2025-03-31", 2, "complex", before_due),
            Err(ExtensionRefused::NoneLeft("gdpr", 2))
        );
        assert_eq!(
            extend_to("2025-02-27", 0, "complex", before_due),
            Err(ExtensionRefused::NotLater(day("2025-02-28")))
        );

        let ccpa = deadlines(Jurisdiction::Ccpa, day("2026-12-02"));
        let second = extend(
            Jurisdiction::Ccpa,
            &ccpa,
            day("2027-02-28"),
            1,
            day("2027-03-02"),
            "complex",
            end_of(day("2026-12-10")),
        );
        assert_eq!(second, Err(ExtensionRefused::NoneLeft("ccpa", 1)));
    }

    #[test]
    fn sla_states_turn_due_soon_seven_days_before_and_overdue_after() {
        let due = end_of(day("2026-12-31"));
        let at = |text: &str| end_of(day(text));
        assert_eq!(sla_state(due, at("2026-12-23")), SlaState::OnTrack);
        assert_eq!(sla_state(due, at("2026-12-24")), SlaState::DueSoon);
        assert_eq!(sla_state(due, due), SlaState::DueSoon);
        assert_eq!(
            sla_state(due, due + chrono::Duration::seconds(1)),
            SlaState::Overdue
        );
    }
}
