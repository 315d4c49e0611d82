//! The states a run, a step visit and an attempt can be in, as the database stores them
//! (`text` columns whose check constraints admit exactly these names). Code speaks of
//! states only through these enums; the names appear as literals only here and in SQL.

use std::fmt;
use std::str::FromStr;

/// Defines a state enum with its stored names, `as_str`, `FromStr`, `Display`, and the
/// `From<String>` the query macros use to read a column into it.
macro_rules! stored_states {
    ($(#[$meta:meta])* $name:ident in $column:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every state, in the order the schema lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownState { column: $column, text: other.to_owned() }),
                }
            }
        }

        impl From<String> for $name {
            /// Reads the column. Its check constraint admits only the names above, so
            /// any other text means the schema and this code disagree: a bug, not data.
            fn from(text: String) -> Self {
                text.parse().unwrap_or_else(|error| panic!("{error}"))
            }
        }
    };
}

/// A state name that is not one of its column's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a state of {column}")]
pub struct UnknownState {
    /// Which column.
    pub column: &'static str,
    /// What was read.
    pub text: String,
}

stored_states! {
    /// Where a run stands.
    RunStatus in "runs.status" {
        /// A task step is queued or executing.
        Running = "running",
        /// Parked on an approval, an event or a timer.
        Waiting = "waiting",
        /// Finished at an `end = "succeeded"` or after its last step.
        Succeeded = "succeeded",
        /// A step failed for good, or the run ended as failed.
        Failed = "failed",
        /// Cancelled by a caller.
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// Whether the run has reached a final state.
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

stored_states! {
    /// Where one visit of a step stands.
    StepStatus in "run_steps.status" {
        /// Entered, its task not yet claimed.
        Pending = "pending",
        /// Its task is executing.
        Running = "running",
        /// Its task failed and waits for the next attempt.
        Retrying = "retrying",
        /// Parked on an approval, an event or a timer.
        Waiting = "waiting",
        /// Done.
        Succeeded = "succeeded",
        /// Failed for good.
        Failed = "failed",
        /// The run was cancelled while it was here.
        Cancelled = "cancelled",
        /// Its timeout passed.
        TimedOut = "timed_out",
    }
}

stored_states! {
    /// How one attempt of a task ended (or that it has not).
    AttemptStatus in "step_attempts.status" {
        /// Executing.
        Running = "running",
        /// The handler succeeded.
        Succeeded = "succeeded",
        /// The handler failed (retryable or not: see `retryable`).
        Failed = "failed",
        /// Its worker went away; another attempt took over.
        Abandoned = "abandoned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_itself_and_nothing_else_is_a_state() {
        for state in RunStatus::ALL {
            assert_eq!(RunStatus::from(state.as_str().to_owned()), *state);
        }
        for state in StepStatus::ALL {
            assert_eq!(state.as_str().parse::<StepStatus>(), Ok(*state));
        }
        for state in AttemptStatus::ALL {
            assert_eq!(state.to_string().parse::<AttemptStatus>(), Ok(*state));
        }
        assert!("done".parse::<RunStatus>().is_err());
        assert!(RunStatus::Cancelled.is_finished() && !RunStatus::Waiting.is_finished());
    }
}
