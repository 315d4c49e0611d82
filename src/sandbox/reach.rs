//! Whether a customer's phone can be reached, as Meta's rules and the phone's state
//! decide: the 24-hour customer-service window (a free-form message only within 24 hours
//! of the customer's last message to that number; Meta answers 131047 outside it), and
//! phones that are offline: a message to one waits on the network, reaches it when it
//! comes back, or is dropped once its time-to-live passes — no `delivered` status ever
//! comes, as Meta documents it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::state::Business;

/// How long a customer's message opens the window for free-form replies.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A message waiting for an offline phone.
#[derive(Debug, Clone)]
pub struct Held {
    /// The recipient.
    pub to: String,
    /// What the phone shows once it gets it.
    pub message: Value,
    /// The sending business.
    pub business: Business,
    /// The message id.
    pub wamid: String,
    /// Its callback data.
    pub callback: Option<String>,
    /// When it is dropped.
    pub expires: Instant,
}

/// The phones' reachability.
#[derive(Debug, Default)]
pub struct Reach {
    /// (business phone number id, customer) -> the customer's last message.
    windows: HashMap<(String, String), Instant>,
    offline: HashSet<String>,
    held: Vec<Held>,
}

impl Reach {
    /// The customer wrote to the number: the window opens for 24 hours.
    pub fn open_window(&mut self, phone_number_id: &str, wa_id: &str) {
        self.windows.insert(
            (phone_number_id.to_owned(), wa_id.to_owned()),
            Instant::now(),
        );
    }

    /// Whether a free-form message may go to the customer now.
    pub fn window_open(&self, phone_number_id: &str, wa_id: &str) -> bool {
        self.windows
            .get(&(phone_number_id.to_owned(), wa_id.to_owned()))
            .is_some_and(|at| at.elapsed() < WINDOW)
    }

    /// Whether the customer's phone is offline.
    pub fn is_offline(&self, wa_id: &str) -> bool {
        self.offline.contains(wa_id)
    }

    /// Keeps a message for an offline phone.
    pub fn hold(&mut self, held: Held) {
        self.held.push(held);
    }

    /// Takes a phone offline or back online; coming back, it answers the messages it
    /// gets now (those whose time-to-live has not passed; the others are dropped).
    pub fn set_online(&mut self, wa_id: &str, online: bool) -> Vec<Held> {
        if !online {
            self.offline.insert(wa_id.to_owned());
            return Vec::new();
        }
        self.offline.remove(wa_id);
        let now = Instant::now();
        let (mine, others): (Vec<Held>, Vec<Held>) =
            self.held.drain(..).partition(|held| held.to == wa_id);
        self.held = others;
        mine.into_iter().filter(|held| held.expires > now).collect()
    }
}
