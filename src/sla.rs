//! Service-level states, one vocabulary for every deadline the product keeps: a run's
//! `sla` (engine) and a privacy request's statutory due date (privacy).

use chrono::{DateTime, Duration, Utc};

/// Where something stands against its due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaState {
    /// More than the warning window left.
    OnTrack,
    /// Inside the warning window.
    DueSoon,
    /// Past due.
    Overdue,
}

impl SlaState {
    /// Every state, in order.
    pub const ALL: [SlaState; 3] = [SlaState::OnTrack, SlaState::DueSoon, SlaState::Overdue];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTrack => "on_track",
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
        }
    }
}

/// The state at `now` of something due at `due_at`, due soon from `warning` before it.
pub fn state(due_at: DateTime<Utc>, now: DateTime<Utc>, warning: Duration) -> SlaState {
    if now > due_at {
        SlaState::Overdue
    } else if now >= due_at - warning {
        SlaState::DueSoon
    } else {
        SlaState::OnTrack
    }
}

/// The warning window of a run's `sla`: a fifth of it, at most 7 days (the privacy
/// requests' window).
pub fn run_warning(sla: std::time::Duration) -> Duration {
    let fifth = Duration::from_std(sla / 5).unwrap_or(Duration::days(7));
    fifth.min(Duration::days(7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_turn_due_soon_inside_the_window_and_overdue_after() {
        let due = DateTime::parse_from_rfc3339("2026-12-10T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let window = Duration::hours(10);
        assert_eq!(
            state(due, due - Duration::hours(11), window),
            SlaState::OnTrack
        );
        assert_eq!(
            state(due, due - Duration::hours(10), window),
            SlaState::DueSoon
        );
        assert_eq!(state(due, due, window), SlaState::DueSoon);
        assert_eq!(
            state(due, due + Duration::seconds(1), window),
            SlaState::Overdue
        );
        assert_eq!(
            run_warning(std::time::Duration::from_secs(50 * 3600)),
            Duration::hours(10)
        );
        assert_eq!(
            run_warning(std::time::Duration::from_secs(100 * 86_400)),
            Duration::days(7)
        );
    }
}
