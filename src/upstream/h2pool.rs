//! The multiplexed pool for `protocol = "h2" | "h2c"` groups: per server, a few HTTP/2
//! connections that every request shares, one stream each.
//!
//! A request takes a *slot* on the first connection with room: fewer streams open than
//! both the server's `SETTINGS_MAX_CONCURRENT_STREAMS` and the group's
//! `max_streams_per_connection`. When every connection is full, one more is dialled;
//! requests that arrive meanwhile wait for that dial instead of starting their own, so
//! a burst of 50 requests opens one connection, not 50 (HAProxy and Envoy do the same).
//! Each connection is driven by a task of its own on the runtime (the `h2`
//! `Connection` future: frames, flow control, PING answers); when it ends (the server
//! closed, or a GOAWAY's streams are done) the connection leaves the pool.
//!
//! Until a new connection has the server's SETTINGS, only weir's cap applies: h2 sends
//! at most the server's limit and holds the rest of the streams until some end (they
//! wait on that connection rather than opening another).
//!
//! A connection with no stream open is idle: `keepalive` of them are kept per server
//! until they have idled `keepalive_timeout`, the rest close on the next
//! [`H2Pool::reap`]. With `h2_ping_interval`, every connection is PINGed and closed
//! when an answer does not come (see [`super::h2conn`]). Each server's connections and
//! streams are counted for `/metrics` ([`H2ServerStats`]).

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;

use super::h2conn::{self, Ping};
use crate::http::h2compat;
use crate::metrics::h2upstream::{Closed, H2ServerStats};
use crate::rt::Runtime;
use crate::stream::Stream;

pub(crate) struct H2Pool {
    servers: Vec<Mutex<Server>>,
    /// The group's `max_streams_per_connection`.
    max_streams: usize,
    /// Idle connections kept per server, and for how long.
    keepalive: usize,
    idle_timeout: Duration,
    /// The PING keep-alive, when the group has `h2_ping_interval`.
    ping: Option<Ping>,
    /// Per server: connections and streams open, connections opened and closed.
    stats: Vec<Arc<H2ServerStats>>,
    /// Where connection tasks run, and what they call with the server's index when a
    /// PING goes unanswered (a passive failure); given when the engine starts.
    runtime: OnceLock<(Runtime, PingFailed)>,
}

/// Told the server index of a connection closed for an unanswered PING.
pub(crate) type PingFailed = Arc<dyn Fn(usize) + Send + Sync>;

#[derive(Default)]
struct Server {
    conns: Vec<Arc<H2Conn>>,
    /// A dial in progress: requests finding no room wait for it to end.
    dialing: Option<async_channel::Receiver<()>>,
}

/// One h2 connection to one server.
struct H2Conn {
    send: SendRequest<Bytes>,
    /// Streams open on it now (slots taken).
    streams: AtomicUsize,
    /// When its last stream ended.
    idle_since: Mutex<Instant>,
    /// Its task ended, or a stream saw a GOAWAY: no new streams go on it.
    retired: Arc<AtomicBool>,
    /// The pool dropped it (idle, or its server left): a clean end is weir's doing.
    let_go: Arc<AtomicBool>,
    stats: Arc<H2ServerStats>,
}

impl H2Conn {
    fn usable(&self) -> bool {
        !self.retired.load(Ordering::Acquire)
    }

    fn is_idle(&self) -> bool {
        self.streams.load(Ordering::Acquire) == 0
    }

    fn idled(&self, now: Instant) -> Duration {
        let since = *self.idle_since.lock().unwrap_or_else(|p| p.into_inner());
        now.saturating_duration_since(since)
    }

    /// A slot on it, already counted in `streams`.
    fn slot(self: &Arc<Self>, reused: bool) -> Slot {
        self.stats.streams.fetch_add(1, Ordering::Relaxed);
        let conn = self.clone();
        Slot { conn, reused }
    }

    /// The pool drops it now.
    fn let_go(&self) {
        self.let_go.store(true, Ordering::Release);
    }
}

/// A stream's place on a connection, given back when dropped.
pub(crate) struct Slot {
    conn: Arc<H2Conn>,
    /// The connection had served streams before this one.
    pub reused: bool,
}

impl Slot {
    /// A handle to open this slot's stream with.
    pub fn sender(&self) -> SendRequest<Bytes> {
        self.conn.send.clone()
    }

    /// No more streams on this connection (it sent GOAWAY or failed).
    pub fn retire(&self) {
        self.conn.retired.store(true, Ordering::Release);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conn.stats.streams.fetch_sub(1, Ordering::Relaxed);
        if self.conn.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .conn
                .idle_since
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }
}

/// What a request found in a server's list.
enum Found<'a> {
    Slot(Slot),
    /// Another request is dialling: wait until it is done, then look again.
    Wait(async_channel::Receiver<()>),
    /// Dial, holding this.
    Dial(Dialing<'a>),
}

/// A dial in progress. Dropped (done, failed, or its request cancelled), it clears the
/// server's mark and wakes the waiters, who look again: a cancelled dial must not leave
/// them waiting on a mark nobody will clear.
struct Dialing<'a> {
    pool: &'a H2Pool,
    i: usize,
    _done: async_channel::Sender<()>,
}

impl Drop for Dialing<'_> {
    fn drop(&mut self) {
        self.pool.server(self.i).dialing = None;
    }
}

impl H2Pool {
    pub fn new(
        servers: usize,
        max_streams: u32,
        (keepalive, idle): (usize, Duration),
        ping: Option<Ping>,
    ) -> Self {
        H2Pool {
            servers: (0..servers).map(|_| Mutex::default()).collect(),
            max_streams: max_streams as usize,
            keepalive,
            idle_timeout: idle,
            ping,
            stats: (0..servers).map(|_| Arc::default()).collect(),
            runtime: OnceLock::new(),
        }
    }

    /// Connection tasks run on `runtime`, and tell `ping_failed` of a server whose
    /// connection stopped answering PINGs (the first pair given is kept).
    pub fn run_on(&self, runtime: &Runtime, ping_failed: PingFailed) {
        let _ = self.runtime.set((runtime.clone(), ping_failed));
    }

    /// Server `i`'s connections and streams, counted.
    pub fn stats(&self, i: usize) -> &H2ServerStats {
        &self.stats[i]
    }

    fn server(&self, i: usize) -> std::sync::MutexGuard<'_, Server> {
        self.servers[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot on a connection to server `i`: on one with room, else on a new one that
    /// `dial` connects (its error returned as is). `opened` is called per connection
    /// made.
    pub async fn slot<F, Fut, E>(&self, i: usize, dial: F) -> Result<Slot, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Stream, E>>,
        E: From<io::Error>,
    {
        loop {
            let dialing = match self.find(i) {
                Found::Slot(slot) => return Ok(slot),
                Found::Wait(done) => {
                    let _ = done.recv().await; // Err once the dialler is done
                    continue;
                }
                Found::Dial(dialing) => dialing,
            };
            // Boxed: a new connection is rare, and its dial and handshake are ~1.5 KiB
            // of future every stream's exchange would carry (its box 4,104 bytes).
            let made = Box::pin(async {
                match dial().await {
                    Ok(stream) => self.handshake(i, stream).await,
                    Err(e) => Err(e),
                }
            })
            .await;
            let conn = made?; // `dialing` dropped: the waiters try for themselves
            conn.streams.store(1, Ordering::Release);
            self.server(i).conns.push(conn.clone());
            drop(dialing); // after the push, so the waiters find the new connection
            return Ok(conn.slot(false));
        }
    }

    /// A slot on a connection with room, or what to do instead.
    fn find(&self, i: usize) -> Found<'_> {
        let mut server = self.server(i);
        server.conns.retain(|c| c.usable());
        for conn in &server.conns {
            let room = self.max_streams.min(conn.send.current_max_send_streams());
            if conn.streams.load(Ordering::Acquire) < room {
                conn.streams.fetch_add(1, Ordering::AcqRel);
                return Found::Slot(conn.slot(true));
            }
        }
        if let Some(done) = &server.dialing {
            return Found::Wait(done.clone());
        }
        let (done, waiters) = async_channel::bounded(1);
        server.dialing = Some(waiters);
        Found::Dial(Dialing {
            pool: self,
            i,
            _done: done,
        })
    }

    /// The HTTP/2 handshake over `stream` to server `i`, and the connection's task
    /// started.
    async fn handshake<E: From<io::Error>>(
        &self,
        i: usize,
        stream: Stream,
    ) -> Result<Arc<H2Conn>, E> {
        let (runtime, ping_failed) = self.runtime.get().ok_or_else(|| {
            io::Error::other("h2 upstream pool has no runtime (engine not started)")
        })?;
        let (send, mut connection) = h2::client::Builder::new()
            .enable_push(false)
            .handshake::<_, Bytes>(h2compat::fresh(stream))
            .await
            .map_err(|e| io::Error::other(format!("h2 handshake failed: {e}")))?;
        let pings = self.ping.and_then(|p| Some((connection.ping_pong()?, p)));
        let conn = Arc::new(H2Conn {
            send,
            streams: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            retired: Arc::default(),
            let_go: Arc::default(),
            stats: self.stats[i].clone(),
        });
        conn.stats.opened();
        let (retired, let_go, stats) = (
            conn.retired.clone(),
            conn.let_go.clone(),
            conn.stats.clone(),
        );
        let ping_failed = ping_failed.clone();
        let task = async move {
            // A connection error reaches every open stream; here it is only counted.
            let why = h2conn::drive(connection, pings, &let_go).await;
            retired.store(true, Ordering::Release);
            stats.closed(why);
            // A connection the pool let go of may be to a server that has since left
            // slot `i` (discovery): blame only one still in the pool.
            if why == Closed::PingTimeout && !let_go.load(Ordering::Acquire) {
                ping_failed(i);
            }
        };
        runtime.spawn(task).detach();
        Ok(conn)
    }

    /// Lets go of the connections to server `i` (it left the group's list): no new
    /// stream starts on them, and each closes when its last stream ends.
    pub fn forget(&self, i: usize) {
        for conn in self.server(i).conns.drain(..) {
            conn.let_go();
        }
    }

    /// Drops ended connections, idle ones past `keepalive_timeout`, and the idle ones
    /// above `keepalive` (the longest idle first). A dropped idle connection closes
    /// once its task sees no handle left.
    pub fn reap(&self) {
        let now = Instant::now();
        for i in 0..self.servers.len() {
            let mut server = self.server(i);
            server.conns.retain(|c| c.usable());
            server.conns.retain(|c| {
                let expired = c.is_idle() && c.idled(now) >= self.idle_timeout;
                if expired {
                    c.let_go();
                }
                !expired
            });
            let mut idle: Vec<(Duration, usize)> = (server.conns.iter().enumerate())
                .filter(|(_, c)| c.is_idle())
                .map(|(at, c)| (c.idled(now), at))
                .collect();
            if idle.len() <= self.keepalive {
                continue;
            }
            idle.sort_unstable_by_key(|&(idled, _)| std::cmp::Reverse(idled));
            let mut close: Vec<usize> = idle[..idle.len() - self.keepalive]
                .iter()
                .map(|&(_, at)| at)
                .collect();
            close.sort_unstable_by_key(|&at| std::cmp::Reverse(at));
            for at in close {
                server.conns.swap_remove(at).let_go();
            }
        }
    }
}
