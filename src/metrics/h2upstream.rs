//! The h2 upstream pool, counted per server: connections and streams open now, and
//! connections opened and closed (by why they closed) since the group was built.
//!
//! They live in the group's pool, so a reload that keeps the group keeps them. Relaxed
//! atomics: one add per stream begun and ended, one per connection.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Why a pooled h2 connection closed, as counted: index = `Closed as usize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The server ended it cleanly: a GOAWAY (its streams done), then its close.
    GoAway,
    /// A PING went unanswered for `h2_ping_timeout`.
    PingTimeout,
    /// A connection error: reset, protocol error, broken pipe. A reset that follows a
    /// GOAWAY counts here too: the h2 crate keeps only the latest error.
    Error,
    /// weir let it go: idle past `keepalive_timeout`, above `keepalive`, or its server
    /// left the group.
    Idle,
}

/// The labels of [`Closed`], in its order.
pub const CLOSED: [&str; 4] = ["goaway", "ping_timeout", "error", "idle"];

/// One server's h2 pool counters.
#[derive(Default)]
pub struct H2ServerStats {
    /// Connections open now (handshake done, task not ended).
    pub connections: AtomicI64,
    /// Streams (requests) holding a slot on one of them now.
    pub streams: AtomicI64,
    pub opened: AtomicU64,
    pub closed: [AtomicU64; CLOSED.len()],
}

impl H2ServerStats {
    pub fn opened(&self) {
        self.opened.fetch_add(1, Relaxed);
        self.connections.fetch_add(1, Relaxed);
    }

    pub fn closed(&self, why: Closed) {
        self.closed[why as usize].fetch_add(1, Relaxed);
        self.connections.fetch_sub(1, Relaxed);
    }
}
