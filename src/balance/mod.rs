//! Balancing algorithms, one small type per file, each tested by its exact picks.
//!
//! An algorithm sees the servers through a [`View`] (weights, in-flight requests, and
//! which servers are eligible right now: healthy and not yet tried for this request)
//! and returns an index with a [`Reason`], so every choice can be explained in the
//! access log and, on request, in response headers.

mod hash;
mod least_conn;
mod p2c;
mod random;
mod rng;
mod round_robin;

use std::fmt;

pub use hash::ConsistentHash;
pub use least_conn::LeastConn;
pub use p2c::PowerOfTwo;
pub use random::WeightedRandom;
pub use round_robin::RoundRobin;

/// What an algorithm may know about the servers when it picks.
pub trait View {
    /// Number of servers (eligible or not).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Configured weight of server `i`, at least 1.
    fn weight(&self, i: usize) -> u32;
    /// Requests currently in flight to server `i`.
    fn in_flight(&self, i: usize) -> u32;
    /// Whether server `i` may be chosen now.
    fn eligible(&self, i: usize) -> bool;
}

/// Why a server was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Smooth weighted round-robin.
    RoundRobin,
    /// Fewest in-flight requests (weight-aware).
    LeastConn { in_flight: u32 },
    /// The less loaded of two random choices.
    P2c { in_flight: u32, other: u32 },
    /// Weighted random.
    Random,
    /// Consistent hash of this key.
    Hash { key: String },
    /// The hash key was absent, so round-robin decided.
    HashFallback,
    /// No healthy untried server was left; the least recently failed one was taken.
    FailOpen,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::RoundRobin => f.write_str("rr"),
            Reason::LeastConn { in_flight } => write!(f, "least-conn in_flight={in_flight}"),
            Reason::P2c { in_flight, other } => {
                write!(f, "p2c in_flight={in_flight} other={other}")
            }
            Reason::Random => f.write_str("random"),
            Reason::Hash { key } => write!(f, "hash key={key}"),
            Reason::HashFallback => f.write_str("hash key absent, rr"),
            Reason::FailOpen => f.write_str("fail-open"),
        }
    }
}

/// A balancing algorithm.
pub trait Algorithm: Send + Sync {
    /// The config name (`round-robin`, `least-conn`, ...).
    fn name(&self) -> &'static str;
    /// Picks an eligible server; `key` is the hash key for `hash` (ignored by others).
    /// `None` only when no server is eligible.
    fn pick(&self, view: &dyn View, key: Option<&[u8]>) -> Option<(usize, Reason)>;
}

/// A plain view over fixed weights, every server eligible and idle (for tests).
#[cfg(test)]
pub(crate) struct Fixed {
    pub weights: Vec<u32>,
    pub in_flight: Vec<u32>,
    pub down: Vec<bool>,
}

#[cfg(test)]
impl Fixed {
    pub fn new(weights: &[u32]) -> Self {
        Fixed {
            weights: weights.to_vec(),
            in_flight: vec![0; weights.len()],
            down: vec![false; weights.len()],
        }
    }
}

#[cfg(test)]
impl View for Fixed {
    fn len(&self) -> usize {
        self.weights.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.weights[i]
    }
    fn in_flight(&self, i: usize) -> u32 {
        self.in_flight[i]
    }
    fn eligible(&self, i: usize) -> bool {
        !self.down[i]
    }
}
