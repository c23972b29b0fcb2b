//! HTTP/2 to clients, counted: connections and streams open now and since start, and
//! the streams refused at `limits.max_streams`.
//!
//! An h2 connection also counts in `connections_active` / `connections_accepted` (it
//! holds a seat like any client); these say how many of them speak h2 and how much
//! they carry. Counted whether or not `[admin]` is on, as connections are: two
//! relaxed atomic adds per stream.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::Metrics;

/// The h2 counters of one running proxy (a field of [`Metrics`]).
#[derive(Default)]
pub struct H2Stats {
    pub connections_active: AtomicI64,
    pub connections_accepted: AtomicU64,
    pub streams_active: AtomicI64,
    pub streams_total: AtomicU64,
    /// Streams answered `REFUSED_STREAM` because `limits.max_streams` were open.
    pub streams_refused: AtomicU64,
}

/// Counts an h2 connection as open until dropped.
pub struct H2ConnectionGuard(Arc<Metrics>);

/// Counts an h2 stream as open until dropped.
pub struct H2StreamGuard(Arc<Metrics>);

impl H2Stats {
    /// An h2 connection began (its handshake succeeded).
    pub fn connection(m: &Arc<Metrics>) -> H2ConnectionGuard {
        m.h2.connections_accepted.fetch_add(1, Relaxed);
        m.h2.connections_active.fetch_add(1, Relaxed);
        H2ConnectionGuard(m.clone())
    }

    /// A stream was accepted for an exchange.
    pub fn stream(m: &Arc<Metrics>) -> H2StreamGuard {
        m.h2.streams_total.fetch_add(1, Relaxed);
        m.h2.streams_active.fetch_add(1, Relaxed);
        H2StreamGuard(m.clone())
    }

    pub fn refused(&self) {
        self.streams_refused.fetch_add(1, Relaxed);
    }
}

impl Drop for H2ConnectionGuard {
    fn drop(&mut self) {
        self.0.h2.connections_active.fetch_sub(1, Relaxed);
    }
}

impl Drop for H2StreamGuard {
    fn drop(&mut self) {
        self.0.h2.streams_active.fetch_sub(1, Relaxed);
    }
}
