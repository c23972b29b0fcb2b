//! Keep-alive connections to upstreams, one idle list per server.
//!
//! Only a connection that finished a clean exchange (request fully written, response
//! fully read by its own framing, neither side asked to close) is given back. On
//! checkout the newest idle connection is taken (LIFO keeps a hot few and lets the rest
//! age out), and one that has idled past the timeout, or that the origin has closed or
//! written to while idle, is dropped instead of used (see [`Pool::checkout`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::conn::Conn;
use crate::rt::{self, TcpStream};

/// Read buffer per upstream connection: also the body relay's piece size.
pub const BUFFER: usize = 16 * 1024;

pub type UpstreamConn = Conn<TcpStream>;

/// Idle connections younger than this skip the liveness peek for resendable requests.
pub const PEEK_AFTER: Duration = Duration::from_secs(1);

struct Idle {
    conn: UpstreamConn,
    since: Instant,
}

pub struct Pool {
    idle: Vec<Mutex<Vec<Idle>>>,
    max_idle: usize,
    idle_timeout: Duration,
    opened: AtomicU64,
}

impl Pool {
    /// A pool for `servers` upstreams keeping at most `max_idle` idle connections each.
    pub fn new(servers: usize, max_idle: usize, idle_timeout: Duration) -> Self {
        Pool {
            idle: (0..servers).map(|_| Mutex::new(Vec::new())).collect(),
            max_idle,
            idle_timeout,
            opened: AtomicU64::new(0),
        }
    }

    /// A usable idle connection to server `i`, if one is kept.
    ///
    /// A non-blocking peek makes sure the origin has not closed the connection or
    /// written to it (a late `408`, say) while it idled. The peek is one syscall, so it
    /// is skipped when `resendable` (the request has no body and is re-sent on a fresh
    /// connection if this one proves closed) and the connection idled under
    /// [`PEEK_AFTER`]: origins do not write to connections that young.
    pub fn checkout(&self, i: usize, resendable: bool) -> Option<UpstreamConn> {
        let mut list = self.idle[i].lock().unwrap_or_else(|p| p.into_inner());
        while let Some(idle) = list.pop() {
            let idled = idle.since.elapsed();
            if idled >= self.idle_timeout {
                continue;
            }
            if (resendable && idled < PEEK_AFTER) || rt::is_quiet(&idle.conn.io) {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Gives back a connection that finished a clean exchange.
    pub fn checkin(&self, i: usize, mut conn: UpstreamConn) {
        if !conn.buffered().is_empty() {
            return; // bytes past the response: the stream is out of step, never reuse
        }
        conn.shrink_to(BUFFER);
        let mut list = self.idle[i].lock().unwrap_or_else(|p| p.into_inner());
        if list.len() >= self.max_idle {
            list.remove(0); // drop the oldest
        }
        list.push(Idle {
            conn,
            since: Instant::now(),
        });
    }

    /// Notes a newly opened upstream connection (for tests and stats).
    pub fn count_open(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// How many upstream connections were opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}
