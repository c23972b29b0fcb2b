//! Counting what weir does, for `/metrics`, the status page and the runtime API.
//!
//! A key design decision: counting is on only when `[admin]` is configured (nobody can
//! read the numbers otherwise), and when on it costs a request a handful of relaxed
//! atomic adds on counters found by index: the route's slot is resolved when the engine
//! is built, the status class and histogram bucket are array indices. No lock and no
//! allocation per request; labels are spelled out only at scrape time.
//!
//! [`Metrics`] outlives reloads (like the listener): route counters are kept in a
//! registry by route name and group, so a reload that keeps a route keeps its counts.
//! Per-server counters live in the group (see [`group`]).

pub mod events;
pub mod group;
pub mod h2;
pub mod h2upstream;
pub mod histogram;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use self::h2::H2Stats;
use events::Events;
use histogram::Histogram;

/// Status classes counted: 1xx to 5xx.
pub const CLASSES: usize = 5;
pub const CLASS_NAMES: [&str; CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index of `status`'s class; anything out of range counts as 5xx.
pub fn class(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// Retry causes counted: one slot per `exchange::cause::Cause`, at its `index()`. The
/// causes' names are the enum's own (`Cause::ALL`, `Cause::as_str`), read where the
/// counts are shown; `metrics` only counts, and so depends on nothing above it.
pub const RETRY_CAUSES: usize = 9;

/// One route's (or the unrouted requests') counters.
#[derive(Default)]
pub struct RouteStats {
    pub requests: [AtomicU64; CLASSES],
    pub duration: Histogram,
}

/// A route's counters with their labels.
pub struct RouteEntry {
    pub route: String,
    pub upstream: String,
    pub stats: Arc<RouteStats>,
}

/// Everything counted for one running proxy; shared by the engines reloads make.
pub struct Metrics {
    pub started: Instant,
    pub started_at: SystemTime,
    routes: Mutex<Vec<RouteEntry>>,
    /// Requests answered before a route was matched (`route="-"`).
    pub unrouted: Arc<RouteStats>,
    /// weir's own 4xx replies to bad requests, by status (index: status - 400).
    client_errors: [AtomicU64; 100],
    retries: [AtomicU64; RETRY_CAUSES],
    /// gRPC calls by the status their client got, at its code (0 to 16).
    grpc_calls: [AtomicU64; GRPC_CODES.len()],
    pub connect_errors: AtomicU64,
    pub connections_active: AtomicI64,
    pub connections_accepted: AtomicU64,
    /// Connections accepted by each thread's own listening socket, when each thread has
    /// one (`listeners.rs`); threads past [`THREADS_COUNTED`] count in the last.
    pub accepted_by_thread: [AtomicU64; THREADS_COUNTED],
    /// HTTP/2 connections and streams (see [`h2`]).
    pub h2: H2Stats,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// HTTP/2 connections closed by weir's guard, by [`H2_GUARD_KINDS`].
    pub h2_guard_closes: [AtomicU64; H2_GUARD_KINDS.len()],
    /// Reloads, drains and enables, newest last.
    pub events: Events,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            started_at: SystemTime::now(),
            routes: Mutex::default(),
            unrouted: Arc::default(),
            client_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            retries: Default::default(),
            grpc_calls: Default::default(),
            connect_errors: AtomicU64::new(0),
            connections_active: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            accepted_by_thread: std::array::from_fn(|_| AtomicU64::new(0)),
            h2: H2Stats::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            h2_guard_closes: Default::default(),
            events: Events::default(),
        }
    }
}

/// Threads whose accepts `weir_connections_accepted_by_thread_total` tells apart.
pub const THREADS_COUNTED: usize = 64;

/// Why weir's HTTP/2 guard closed a connection: the `kind` label of
/// `weir_h2_guard_closes_total` (a flood of one frame type, or a slow header block).
pub const H2_GUARD_KINDS: [&str; 7] = [
    "rst_stream",
    "ping",
    "settings",
    "priority",
    "window_update",
    "empty_data",
    "slow_headers",
];

/// The gRPC status codes, by number: the `code` label of `weir_grpc_calls_total`.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Counts a client connection as active until dropped.
pub struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// The counters of route `route` to group `upstream`, made on first use.
    pub fn route(&self, route: &str, upstream: &str) -> Arc<RouteStats> {
        let mut list = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = list
            .iter()
            .find(|e| e.route == route && e.upstream == upstream)
        {
            return e.stats.clone();
        }
        let stats = Arc::<RouteStats>::default();
        list.push(RouteEntry {
            route: route.to_string(),
            upstream: upstream.to_string(),
            stats: stats.clone(),
        });
        stats
    }

    /// Every route counted so far, with its labels (scrape time only).
    pub fn routes(&self) -> Vec<(String, String, Arc<RouteStats>)> {
        let list = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .map(|e| (e.route.clone(), e.upstream.clone(), e.stats.clone()))
            .collect()
    }

    /// A connection was accepted; it counts as active until the guard drops.
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_active.fetch_add(1, Relaxed);
        ConnectionGuard(self.clone())
    }

    /// Thread `thread`'s own listening socket accepted a connection.
    pub fn accepted_on_thread(&self, thread: usize) {
        let slot = thread.min(THREADS_COUNTED - 1);
        self.accepted_by_thread[slot].fetch_add(1, Relaxed);
    }

    /// A failed attempt goes to another server; `cause` is its cause's slot
    /// (`Cause::index`).
    pub fn retry(&self, cause: usize) {
        if let Some(n) = self.retries.get(cause) {
            n.fetch_add(1, Relaxed);
        }
    }

    /// A gRPC call ended with status `code` (one outside 0 to 16 is not counted).
    pub fn grpc_call(&self, code: u8) {
        if let Some(n) = self.grpc_calls.get(usize::from(code)) {
            n.fetch_add(1, Relaxed);
        }
    }

    /// The gRPC calls counted, by status code.
    pub fn grpc_calls(&self) -> [u64; GRPC_CODES.len()] {
        std::array::from_fn(|i| self.grpc_calls[i].load(Relaxed))
    }

    /// The retries counted, by cause slot (`Cause::ALL` names them in this order).
    pub fn retries(&self) -> [u64; RETRY_CAUSES] {
        std::array::from_fn(|i| self.retries[i].load(Relaxed))
    }

    /// weir answered a bad request with `status` (4xx).
    pub fn client_error(&self, status: u16) {
        if let Some(n) = status
            .checked_sub(400)
            .and_then(|i| self.client_errors.get(usize::from(i)))
        {
            n.fetch_add(1, Relaxed);
        }
    }

    /// Client error counts by status, those seen so far.
    pub fn client_errors(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.client_errors
            .iter()
            .enumerate()
            .map(|(i, n)| (400 + i as u16, n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
    }

    /// A reload ended: `Ok(summary)` or `Err(why)`.
    pub fn reloaded(&self, source: &str, result: &Result<String, String>) {
        match result {
            Ok(what) => {
                self.reloads_ok.fetch_add(1, Relaxed);
                self.events.note("reload", source, what.as_str());
            }
            Err(why) => {
                self.reloads_failed.fetch_add(1, Relaxed);
                self.events.note("reload-failed", source, why.as_str());
            }
        }
    }
}

/// What one engine counts into: the proxy's [`Metrics`] and its routes' slots.
pub(crate) struct EngineStats {
    /// Whether requests are counted (`[admin]` is configured).
    pub on: bool,
    pub metrics: Arc<Metrics>,
    /// Route `i`'s counters, by the engine's route index.
    routes: Vec<Arc<RouteStats>>,
}

impl EngineStats {
    /// Slots for `routes` (route name, group name), in the engine's route order.
    pub fn new<'a>(
        metrics: Arc<Metrics>,
        on: bool,
        routes: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let routes = routes.map(|(r, g)| metrics.route(r, g)).collect();
        EngineStats {
            on,
            metrics,
            routes,
        }
    }

    /// Counts one answered request: on route `route` (`None`: refused before routing),
    /// with `status`, taking `took`; `weir_refused` when weir itself answered a bad
    /// request with a 4xx.
    pub fn request(&self, route: Option<usize>, status: u16, took: Duration, weir_refused: bool) {
        let stats = match route {
            Some(i) => &self.routes[i],
            None => &self.metrics.unrouted,
        };
        stats.requests[class(status)].fetch_add(1, Relaxed);
        stats.duration.observe(took);
        if weir_refused {
            self.metrics.client_error(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::group::GroupStats;
    use super::*;
    use crate::balance::Reason;

    #[test]
    fn a_request_counts_once_in_its_route_class_and_bucket() {
        let m = Arc::new(Metrics::default());
        let s = EngineStats::new(m.clone(), true, [("a", "g")].into_iter());
        s.request(Some(0), 204, Duration::from_millis(3), false);
        s.request(None, 431, Duration::from_micros(10), true);
        let a = m.route("a", "g");
        assert_eq!(a.requests[1].load(Relaxed), 1);
        assert_eq!(a.duration.snapshot().count(), 1);
        assert_eq!(m.unrouted.requests[3].load(Relaxed), 1);
        assert_eq!(m.client_errors().collect::<Vec<_>>(), [(431, 1)]);
    }

    #[test]
    fn a_retry_counts_in_its_causes_slot_and_no_other() {
        let m = Metrics::default();
        m.retry(3);
        m.retry(3);
        m.retry(8);
        m.retry(RETRY_CAUSES); // no such cause: ignored, not a panic
        assert_eq!(m.retries(), [0, 0, 0, 2, 0, 0, 0, 0, 1]);
    }

    /// What counting adds to one proxied request, in nanoseconds: the route's and the
    /// server's counters as `complete` and `forward` touch them. Run with
    /// `cargo test --release --lib metrics::tests::cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn cost_per_request() {
        let m = Arc::new(Metrics::default());
        let s = EngineStats::new(m, true, [("a", "g")].into_iter());
        let g = GroupStats::new(2);
        let n = 5_000_000u32;
        let count = |t: u32| {
            let reason = Some(Reason::RoundRobin);
            for i in 0..n {
                let d = Duration::from_micros(u64::from((i + t) % 5000));
                let server = ((i + t) & 1) as usize;
                g.picked(server, std::hint::black_box(reason.as_ref()));
                g.responded(server, 200, d);
                s.request(Some(0), std::hint::black_box(200), d, false);
            }
        };
        for threads in [1u32, 2] {
            let started = Instant::now();
            std::thread::scope(|sc| {
                for t in 0..threads {
                    sc.spawn(move || count(t));
                }
            });
            let ns = started.elapsed().as_nanos() as f64 / f64::from(n);
            println!("counting costs {ns:.1} ns per request ({threads} thread(s) at once, same counters)");
        }
    }
}
