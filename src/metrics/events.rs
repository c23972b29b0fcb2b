//! Recent happenings a person wants to see next to the numbers: servers going down and
//! coming back, reloads. A short ring, written only when something changes.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

/// How many events a ring keeps.
const KEEP: usize = 50;

#[derive(Clone, Debug)]
pub struct Event {
    pub at: SystemTime,
    /// `down`, `up`, `reload`, `reload-failed`, `drain`, `enable`.
    pub kind: &'static str,
    /// What it concerns: a server address, or the config file.
    pub subject: String,
    pub detail: String,
}

#[derive(Default)]
pub struct Events(Mutex<VecDeque<Event>>);

impl Events {
    pub fn note(&self, kind: &'static str, subject: impl Into<String>, detail: impl Into<String>) {
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == KEEP {
            ring.pop_front();
        }
        ring.push_back(Event {
            at: SystemTime::now(),
            kind,
            subject: subject.into(),
            detail: detail.into(),
        });
    }

    /// The events kept, oldest first.
    pub fn list(&self) -> Vec<Event> {
        let ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().cloned().collect()
    }
}
