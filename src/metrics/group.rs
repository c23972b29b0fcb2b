//! Per upstream group counters: each server's answers by status class, its failed
//! attempts and the balancer's reasons for picking it, plus the group's time to the
//! response head and its recent health changes.
//!
//! They live in the [`crate::upstream::group::Group`], so they are kept across a reload
//! exactly when the group is (its definition unchanged); a changed group starts from
//! zero, which Prometheus reads as a counter reset.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

use super::events::Events;
use super::histogram::Histogram;
use super::{class, CLASSES};
use crate::balance::Reason;

/// The balancer's reasons as counted: index = [`reason_index`].
pub const REASONS: [&str; 7] = [
    "rr",
    "least-conn",
    "p2c",
    "random",
    "hash",
    "hash-fallback",
    "fail-open",
];

/// Where a reason is counted in [`REASONS`].
pub fn reason_index(r: &Reason) -> usize {
    match r {
        Reason::RoundRobin => 0,
        Reason::LeastConn { .. } => 1,
        Reason::P2c { .. } => 2,
        Reason::Random => 3,
        Reason::Hash { .. } => 4,
        Reason::HashFallback => 5,
        Reason::FailOpen => 6,
    }
}

/// One server's counters.
#[derive(Default)]
pub struct ServerStats {
    /// Response heads received, by status class (1xx..5xx).
    pub responses: [AtomicU64; CLASSES],
    /// Attempts that failed (connect, reset, timeout, bad response).
    pub errors: AtomicU64,
    /// Times the balancer picked this server, by reason.
    pub picks: [AtomicU64; REASONS.len()],
    /// The reason of the latest pick, plus one (0: never picked).
    pub last_reason: AtomicU8,
}

pub struct GroupStats {
    servers: Box<[ServerStats]>,
    /// Time from the start of an attempt to the response head, for the whole group.
    pub response: Histogram,
    pub events: Events,
}

impl GroupStats {
    pub fn new(servers: usize) -> Self {
        GroupStats {
            servers: (0..servers).map(|_| ServerStats::default()).collect(),
            response: Histogram::default(),
            events: Events::default(),
        }
    }

    pub fn server(&self, i: usize) -> &ServerStats {
        &self.servers[i]
    }

    /// Zeroes server `i`'s counters: its slot now holds another address.
    pub fn reset(&self, i: usize) {
        let s = &self.servers[i];
        let all = s.responses.iter().chain([&s.errors]).chain(&s.picks);
        all.for_each(|n| n.store(0, Relaxed));
        s.last_reason.store(0, Relaxed);
    }

    /// Server `i` was picked for `reason`.
    pub fn picked(&self, i: usize, reason: Option<&Reason>) {
        if let Some(r) = reason {
            let k = reason_index(r);
            let s = &self.servers[i];
            s.picks[k].fetch_add(1, Relaxed);
            s.last_reason.store(k as u8 + 1, Relaxed);
        }
    }

    /// Server `i` answered with a `status` head after `took`.
    pub fn responded(&self, i: usize, status: u16, took: Duration) {
        self.servers[i].responses[class(status)].fetch_add(1, Relaxed);
        self.response.observe(took);
    }

    /// An attempt on server `i` failed.
    pub fn failed(&self, i: usize) {
        self.servers[i].errors.fetch_add(1, Relaxed);
    }
}
