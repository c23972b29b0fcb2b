//! A latency histogram that a request records into with two relaxed atomic adds.
//!
//! The bucket is found by a binary search over fixed bounds (Prometheus' `le` labels),
//! so recording takes no lock and allocates nothing. Buckets hold per-bucket counts;
//! the cumulative form Prometheus wants is made at scrape time, and `_count` is their
//! sum, so `_count` always equals the `+Inf` bucket however a scrape interleaves with
//! requests.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds in microseconds: 0.5 ms to 10 s, the spread of HTTP latencies.
pub const BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Number of buckets, `+Inf` included.
pub const BUCKETS: usize = BOUNDS_US.len() + 1;

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

/// A histogram read once: per-bucket counts and the sum.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot {
            sum_us: self.sum_us.load(Relaxed),
            ..Snapshot::default()
        };
        for (to, from) in s.buckets.iter_mut().zip(&self.buckets) {
            *to = from.load(Relaxed);
        }
        s
    }
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds `other` bucket by bucket (several routes into one total).
    pub fn add(&mut self, other: &Snapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum_us += other.sum_us;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_a_bound_falls_in_that_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_micros(501));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[BUCKETS - 1], 1);
        assert_eq!(s.count(), 3);
        assert_eq!(s.sum_us, 500 + 501 + 60_000_000);
    }
}
