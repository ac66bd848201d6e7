//! What each background loop is doing: busy, or asleep until a moment on the clock (or until
//! woken). The server is quiet at a moment when every loop sleeps past it; a test harness with
//! a manual clock moves the clock to the earliest wake-up to run the bot deterministically.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Busy,
    Asleep(Option<DateTime<Utc>>),
}

/// The registry of loops' states, shared by the loops and whoever watches them.
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Mutex<BTreeMap<&'static str, State>>>);

impl Activity {
    /// The handle a loop named `name` reports through (registered as busy).
    pub fn register(&self, name: &'static str) -> LoopState {
        self.set(name, State::Busy);
        LoopState {
            name,
            activity: self.clone(),
        }
    }

    fn set(&self, name: &'static str, state: State) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(name, state);
        }
    }

    /// Whether every loop is asleep past `now` (or until woken).
    pub fn quiet_at(&self, now: DateTime<Utc>) -> bool {
        self.0.lock().is_ok_and(|m| {
            m.values().all(|s| match s {
                State::Busy => false,
                State::Asleep(until) => until.is_none_or(|t| t > now),
            })
        })
    }

    /// The earliest moment a sleeping loop wakes up by itself.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        let m = self.0.lock().ok()?;
        m.values()
            .filter_map(|s| match s {
                State::Asleep(until) => *until,
                State::Busy => None,
            })
            .min()
    }

    /// Names of the loops that are busy (for diagnostics).
    pub fn busy(&self) -> Vec<&'static str> {
        self.0.lock().map_or_else(
            |_| Vec::new(),
            |m| {
                m.iter()
                    .filter(|(_, s)| **s == State::Busy)
                    .map(|(n, _)| *n)
                    .collect()
            },
        )
    }
}

/// One loop's handle.
#[derive(Debug, Clone)]
pub struct LoopState {
    name: &'static str,
    activity: Activity,
}

impl LoopState {
    /// The loop is working.
    pub fn busy(&self) {
        self.activity.set(self.name, State::Busy);
    }

    /// The loop sleeps until `until` on the clock (or until woken, when `None`).
    pub fn asleep(&self, until: Option<DateTime<Utc>>) {
        self.activity.set(self.name, State::Asleep(until));
    }

    /// The loop has stopped for good.
    pub fn stopped(&self) {
        self.activity.set(self.name, State::Asleep(None));
    }
}
