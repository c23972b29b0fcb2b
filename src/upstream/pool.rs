//! Keep-alive connections to upstreams, one idle list per server.
//!
//! Only a connection that finished a clean exchange (request fully written, response
//! fully read by its own framing, neither side asked to close) is given back. On
//! checkout the newest idle connection is taken (LIFO keeps a hot few and lets the rest
//! age out), and one that has idled past the timeout, or that the origin has closed or
//! written to while idle, is dropped instead of used (see [`Pool::checkout`]).
//!
//! `keepalive` idle connections per server are kept until `keepalive_timeout`. A burst
//! can leave more idle than that: up to as many again are kept while they keep being
//! used, and closed once they have idled [`SURPLUS_GRACE`]. Round-robin over busy
//! origins swings one server's share of the requests in flight well above its even
//! share for a few milliseconds at a time (all clients pile onto whichever origin
//! stalls); closing the surplus at once, as nginx does, meant reconnecting on the next
//! swing: ~150 connects a second in the small-response benchmark, where HAProxy, which
//! purges surplus gradually (`pool-purge-delay`), made 2.
//!
//! Beyond that second allowance a connection given back is closed at once, as nginx
//! closes every one above `keepalive`: a burst of thousands of requests (a crowd of
//! clients arriving together) would otherwise leave thousands idle, all closed in one
//! sweep a grace later, and those closes (a system call and a FIN each) stalled the
//! requests of that moment: 1,900 closes within 150 ms of a wrk load that started right
//! after 9,750 clients' first requests (bench/profiling.md, "The crowd's tail, round
//! two"). Closed as they come back, they cost the burst's own requests one close each.
//!
//! A background task calls [`Pool::reap`] every [`REAP_EVERY`], so idle connections past
//! either limit close even when no request comes to their server. It, and a thread's
//! quiet-time trim (`quiet`), also free the read buffers of the connections below the
//! newest [`BUFFERED`] that have idled [`BUFFER_IDLE`]: a burst leaves up to `keepalive` connections idle,
//! each with its 4 KiB buffer pinning an allocator page (bench/profiling.md, "Idle
//! connections, round nine"). Not at check-in: freeing the buffer of every connection
//! given back to a deep list made each request on it take a buffer again, 6% more
//! instructions a request at 50 connections ("round eight").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::conn::Conn;
use crate::stream::Stream;

/// The most an upstream connection's read buffer grows to for a response head (and the
/// client's, for a request head, unless `limits.max_header_bytes` asks for more).
pub const BUFFER: usize = 16 * 1024;

/// An upstream connection's read buffer until a head needs more: most response heads and
/// small bodies fit, and a burst of requests in flight holds one per request (16 KiB
/// each took a burst of 8,000 connections past HAProxy's memory). A body that does not
/// fit grows it for the relay ([`crate::http::body`]).
pub const FIRST_READ: usize = 4 * 1024;

pub type UpstreamConn = Conn<Stream>;

/// Idle connections younger than this skip the liveness peek for resendable requests.
pub const PEEK_AFTER: Duration = Duration::from_secs(1);

/// How long an idle connection above a server's `keepalive` allowance is kept.
pub const SURPLUS_GRACE: Duration = Duration::from_secs(1);

/// How often the background reaper looks for idle connections to close.
pub const REAP_EVERY: Duration = Duration::from_secs(1);

/// Idle connections to one server that keep their read buffer however long they idle:
/// the newest, which the next checkouts take.
pub const BUFFERED: usize = 4;

/// How long an idle connection below the newest [`BUFFERED`] keeps its read buffer:
/// half the quiet-time trim's bound, since a thread's last responses come back (and
/// their connections idle) a little after its last request started.
pub const BUFFER_IDLE: Duration = Duration::from_millis(500);

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
            let idled = crate::rt::now().saturating_duration_since(idle.since);
            if idled >= self.idle_timeout {
                continue;
            }
            if (resendable && idled < PEEK_AFTER) || idle.conn.io.is_quiet() {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Gives back a connection that finished a clean exchange. Within the server's
    /// `keepalive` allowance it keeps its read buffer (the steady state then allocates
    /// nothing per request); a surplus connection, left by a burst, frees it, and the
    /// next response on it allocates one when it arrives; beyond twice the allowance it
    /// is closed (module docs). Kept with its buffer, a burst of 8,000
    /// requests left 8,000 idle connections holding 16 KiB each until the surplus
    /// closed, and glibc malloc then kept the pages (bench/README.md, "Memory after a
    /// burst").
    pub fn checkin(&self, i: usize, mut conn: UpstreamConn) {
        if self.max_idle == 0 || !conn.buffered().is_empty() {
            return; // no pooling, or bytes past the response: the stream is out of step
        }
        let now = crate::rt::now();
        let mut list = self.idle[i].lock().unwrap_or_else(|p| p.into_inner());
        if list.len() >= self.max_kept() {
            drop(list); // closed outside the lock (a system call), now, not in a sweep
            return;
        }
        if list.len() >= self.max_idle {
            conn.release();
        } else {
            conn.shrink_to(FIRST_READ);
        }
        list.push(Idle { conn, since: now });
        self.close_stale_surplus(&mut list, now);
    }

    /// The most idle connections kept to one server: the `keepalive` allowance and as
    /// many again of surplus, for the next swing (module docs).
    fn max_kept(&self) -> usize {
        self.max_idle.saturating_mul(2)
    }

    /// Closes the idle connections past `keepalive_timeout`, and the surplus idle past
    /// [`SURPLUS_GRACE`]. Checkout and checkin trim as they go; this is for servers no
    /// request reaches for a while, whose connections would otherwise stay open.
    pub fn reap(&self) {
        let now = Instant::now();
        for list in &self.idle {
            let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
            let expired = list
                .iter()
                .take_while(|idle| now.saturating_duration_since(idle.since) >= self.idle_timeout)
                .count();
            list.drain(..expired);
            self.close_stale_surplus(&mut list, now);
            free_idle_buffers(&mut list, now);
        }
    }

    /// Frees the read buffers of the idle connections below the newest [`BUFFERED`]
    /// that have idled [`BUFFER_IDLE`] (module docs): a thread's quiet-time trim.
    pub fn free_idle_buffers(&self) {
        let now = Instant::now();
        for list in &self.idle {
            free_idle_buffers(&mut list.lock().unwrap_or_else(|p| p.into_inner()), now);
        }
    }

    /// Drops the oldest idle connections above `keepalive` that are past the grace.
    fn close_stale_surplus(&self, list: &mut Vec<Idle>, now: Instant) {
        let stale = surplus_to_close(list.iter().map(|idle| idle.since), self.max_idle, now);
        list.drain(..stale);
    }

    /// Closes the idle connections to server `i` (it left the group's list).
    pub fn forget(&self, i: usize) {
        self.idle[i]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Notes a newly opened upstream connection (for tests and stats).
    pub fn count_open(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// How many upstream connections were opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Idle connections kept to server `i` now (for metrics, at scrape time).
    pub fn idle(&self, i: usize) -> usize {
        self.idle[i].lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Frees the read buffers of the idle connections in `list` below the newest
/// [`BUFFERED`] that have idled [`BUFFER_IDLE`] or more.
fn free_idle_buffers(list: &mut [Idle], now: Instant) {
    let below = list.len().saturating_sub(BUFFERED);
    let quiet = |idle: &&mut Idle| now.saturating_duration_since(idle.since) >= BUFFER_IDLE;
    for idle in list[..below].iter_mut().take_while(quiet) {
        idle.conn.free_buffer();
    }
}

/// How many of the oldest idle connections to close: those above `max_idle` that have
/// idled [`SURPLUS_GRACE`] or more. `since` runs oldest first (the list is a stack, so
/// idle times only shrink towards its top).
fn surplus_to_close(
    since: impl ExactSizeIterator<Item = Instant>,
    max_idle: usize,
    now: Instant,
) -> usize {
    let surplus = since.len().saturating_sub(max_idle);
    since
        .take(surplus)
        .take_while(|&t| now.saturating_duration_since(t) >= SURPLUS_GRACE)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::{self, Runtime};

    impl Pool {
        /// The buffer each idle connection to server `i` holds, oldest first.
        fn buffers(&self, i: usize) -> Vec<usize> {
            let list = self.idle[i].lock().unwrap();
            list.iter().map(|idle| idle.conn.capacity()).collect()
        }
    }

    /// After a burst left eight connections idle, each with its read buffer, the
    /// reaper frees the buffers of all but the newest few once they have idled
    /// [`BUFFER_IDLE`]; the connections stay pooled.
    #[test]
    fn quiet_idle_connections_below_the_newest_few_give_their_buffers_back() {
        Runtime::new().block_on(1, async {
            let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
            let addr = rt::local_addr(&listener).unwrap();
            let pool = Pool::new(1, 64, Duration::from_secs(60));
            let mut peers = Vec::new();
            for _ in 0..8 {
                let stream = rt::connect(addr).await.unwrap();
                peers.push(rt::accept(&listener).await.unwrap());
                let mut conn = Conn::new(Stream::from(stream), FIRST_READ, BUFFER);
                conn.grow_to(FIRST_READ);
                pool.checkin(0, conn);
            }
            assert_eq!(pool.buffers(0), [FIRST_READ; 8]);
            let deadline = Instant::now() + Duration::from_secs(30);
            let want = [[0; 8 - BUFFERED].as_slice(), &[FIRST_READ; BUFFERED]].concat();
            loop {
                pool.reap();
                if pool.buffers(0) == want {
                    break;
                }
                assert!(Instant::now() < deadline, "left: {:?}", pool.buffers(0));
                rt::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(pool.idle(0), 8);
        });
    }

    fn ages(now: Instant, secs: &[f64]) -> Vec<Instant> {
        secs.iter()
            .map(|&s| now - Duration::from_secs_f64(s))
            .collect()
    }

    #[test]
    fn keeps_the_allowance_whatever_its_age() {
        let now = Instant::now();
        let since = ages(now, &[90.0, 30.0, 5.0]);
        assert_eq!(surplus_to_close(since.into_iter(), 3, now), 0);
    }

    #[test]
    fn keeps_a_surplus_used_within_the_grace() {
        let now = Instant::now();
        let since = ages(now, &[0.5, 0.2, 0.1, 0.0]);
        assert_eq!(surplus_to_close(since.into_iter(), 2, now), 0);
    }

    #[test]
    fn closes_only_the_stale_part_of_the_surplus_oldest_first() {
        let now = Instant::now();
        // Two over the allowance of 3 are stale, the third surplus one is fresh.
        let since = ages(now, &[9.0, 1.5, 0.5, 0.4, 0.3, 0.0]);
        assert_eq!(surplus_to_close(since.into_iter(), 3, now), 2);
        // A stale connection inside the allowance stays.
        let since = ages(now, &[9.0, 8.0, 0.0]);
        assert_eq!(surplus_to_close(since.into_iter(), 2, now), 1);
    }
}
