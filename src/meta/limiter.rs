//! Send pacing Meta imposes: at most 80 messages per second per phone number, and one
//! message per 6 seconds to the same recipient. A send waits for its slot instead of
//! provoking 130429 or 131056. Per process: replicas sending for the same number share
//! Meta's budget, which the Graph client's handling of those codes covers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Messages per second per phone number.
pub const PER_NUMBER_PER_SECOND: u32 = 80;
/// The window of the per-number budget.
const WINDOW: Duration = Duration::from_secs(1);

/// Gap between two messages to the same recipient.
pub const PER_RECIPIENT_GAP: Duration = Duration::from_secs(6);

/// Reserves send slots.
#[derive(Debug, Default)]
pub struct SendLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per phone number: the send times reserved in the last second and the future.
    number_sends: HashMap<String, Vec<Instant>>,
    /// Per (phone number, recipient): the earliest next send.
    recipient_next: HashMap<(String, String), Instant>,
}

impl SendLimiter {
    /// Reserves the earliest slot for a message from `number` to `recipient` and returns
    /// when it is; the caller sleeps until then.
    pub fn reserve(&self, number: &str, recipient: &str) -> Instant {
        let now = Instant::now();
        let mut state = self.state.lock().expect("limiter lock");
        let recipient_key = (number.to_owned(), recipient.to_owned());
        let recipient_ready = state
            .recipient_next
            .get(&recipient_key)
            .copied()
            .unwrap_or(now);
        let sends = state.number_sends.entry(number.to_owned()).or_default();
        sends.retain(|at| *at + WINDOW > now);
        // The earliest instant from which the window (at - 1 s, at] holds fewer than 80.
        let mut at = now.max(recipient_ready);
        loop {
            let in_window: Vec<Instant> = sends
                .iter()
                .copied()
                .filter(|sent| *sent + WINDOW > at && *sent <= at)
                .collect();
            if in_window.len() < PER_NUMBER_PER_SECOND as usize {
                break;
            }
            at = in_window.into_iter().min().unwrap_or(at) + WINDOW;
        }
        sends.push(at);
        state
            .recipient_next
            .insert(recipient_key, at + PER_RECIPIENT_GAP);
        at
    }

    /// Waits for a slot.
    pub async fn wait(&self, number: &str, recipient: &str) {
        tokio::time::sleep_until(self.reserve(number, recipient)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_same_recipient_waits_six_seconds_and_a_number_80_per_second() {
        let limiter = SendLimiter::default();
        let start = Instant::now();
        assert_eq!(limiter.reserve("n1", "r1"), start);
        assert_eq!(limiter.reserve("n1", "r1") - start, PER_RECIPIENT_GAP);
        // One send now (the other is 6 s away): 79 more fit into this second, the 80th
        // waits until the first leaves the window.
        let slots: Vec<Instant> = (0..80)
            .map(|i| limiter.reserve("n1", &format!("x{i}")))
            .collect();
        assert!(slots[..79].iter().all(|at| *at == start));
        assert_eq!(slots[79] - start, Duration::from_secs(1));
        // Another number has its own budget.
        assert_eq!(limiter.reserve("n2", "r1"), start);
    }
}
