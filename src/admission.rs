//! `limits.max_connections`: who gets a seat, who waits, and who gives one up.
//!
//! The limit is a semaphore of seats, one per client connection. At the limit weir
//! stops accepting: new clients wait in the kernel's listen backlog
//! (`limits.listen_backlog`), as HAProxy leaves them at its `maxconn`, and are accepted
//! in turn as seats free. Accepting them only to close them, as weir once did, lost
//! nine in ten of a burst of 1,000 at a limit of 50.
//!
//! Keep-alive clients that only idle between requests could hold every seat for
//! `timeouts.idle`: with the limit at 50, 50 idle clients locked out every new one.
//! So, as nginx reuses idle keep-alive connections when it runs short of them, once a
//! client waits in the backlog the connection that has idled longest is asked to close
//! and its seat goes to the newcomer. Only a connection that has had a response and
//! waits *between* requests can be asked; one that has not had its first request
//! answered (a fresh one waiting for its first byte is bounded by `timeouts.header`),
//! or is reading a head, relaying a body or tunnelling, is never cut.
//!
//! Reaching the limit is logged once per episode: when a client first has to wait for a
//! seat, and when the open connections fall back to [`Limit::low_water`]. Both are
//! counted in atomics a metrics endpoint can read.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use crate::rt::{self, Semaphore};

mod idle_list;
use idle_list::IdleList;

/// The connection limit in force, its episodes, and the idle connections that may be
/// asked to give up their seat.
pub(crate) struct Limit {
    /// What the log lines call this limit.
    what: &'static str,
    max: usize,
    seats: Arc<Semaphore>,
    open: AtomicUsize,
    at_limit: AtomicBool,
    since: Mutex<Option<Instant>>,
    idle: Mutex<Idle>,
    /// Times the limit was reached (episodes, not clients).
    pub(crate) reached: AtomicU64,
    /// Clients that had to wait for a seat.
    pub(crate) waited: AtomicU64,
    /// Idle keep-alive connections closed to make room for a new client.
    pub(crate) evicted: AtomicU64,
}

/// The connections idling now, longest first (`idle_list`), each with the waker of
/// its wait, and how many seats the accept loop is still owed when none was idle to
/// give one up.
///
/// Asking a connection is taking its entry off the list and waking it: its wait finds
/// its id gone. No per-connection flag or allocation (an `Arc` of a flag and a waker
/// was 48 bytes a connection, an async channel once 768).
#[derive(Default)]
struct Idle {
    waiting: IdleList,
    owed: usize,
}

/// One client's seat: held for the connection's life, given back on drop.
pub(crate) struct Seat {
    limit: Arc<Limit>,
    _permit: rt::Permit,
}

impl Limit {
    pub fn new(max: usize) -> Arc<Self> {
        Limit::named(max, "limits.max_connections")
    }

    /// A limit the log calls `what` (the admin listener has one of its own).
    pub fn named(max: usize, what: &'static str) -> Arc<Self> {
        Arc::new(Limit {
            what,
            max,
            seats: Arc::new(Semaphore::new(max)),
            open: AtomicUsize::new(0),
            at_limit: AtomicBool::new(false),
            since: Mutex::new(None),
            idle: Mutex::new(Idle::default()),
            reached: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    /// Open connections at or below which an episode at the limit is over: a tenth
    /// below the limit, so a server hovering at it logs one episode, not one per client.
    fn low_water(&self) -> usize {
        self.max - (self.max / 10).max(1).min(self.max)
    }

    /// Whether every seat is taken: the accept loop then leaves new clients queued
    /// and calls [`make_room`](Self::make_room) once one is.
    pub fn is_full(&self) -> bool {
        self.open.load(Ordering::Relaxed) >= self.max
    }

    /// For a client waiting in the backlog while every seat is taken: asks the
    /// longest-idle connection to give up its seat, and waits until a seat is free.
    pub async fn make_room(&self) {
        if self.seats.try_acquire().is_some() {
            return; // freed while the client was on its way
        }
        self.begin_episode();
        self.waited.fetch_add(1, Ordering::Relaxed);
        self.ask_one();
        drop(self.seats.acquire().await);
        self.idle().owed = 0;
    }

    /// A seat for a client just accepted: at once, unless another listener took the
    /// seat [`make_room`](Self::make_room) found; then as `make_room` does.
    pub async fn admit(self: &Arc<Self>) -> Seat {
        let permit = match self.seats.try_acquire_arc() {
            Some(p) => p,
            None => {
                self.make_room().await;
                self.seats.acquire_arc().await
            }
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        Seat {
            limit: self.clone(),
            _permit: permit,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the longest-idle connection to close; with none idle, the next connection
    /// to go idle closes instead.
    /// A drain began: wakes every listed (idle keep-alive) connection's wait, which
    /// then finds the stop signal fired (see `crate::idle_wait`). Called after the
    /// signal fires. The idle list already holds each idle connection's waker, so the
    /// connections need no listener of their own on the signal: one was a 56-byte
    /// allocation (the 64-byte class) held by every idle connection for its life
    /// (bench/profiling.md, "Idle connections, round seven").
    pub fn wake_idle(&self) {
        self.idle().waiting.wake_all();
    }

    fn ask_one(&self) {
        let mut idle = self.idle();
        match idle.waiting.pop_oldest() {
            Some(waker) => waker.wake(),
            None => idle.owed += 1,
        }
    }

    fn begin_episode(&self) {
        if self.at_limit.swap(true, Ordering::AcqRel) {
            return;
        }
        self.reached.fetch_add(1, Ordering::Relaxed);
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        eprintln!(
            "weir: {} ({}) reached; closing the longest-idle keep-alive \
             connections to admit new clients",
            self.what, self.max
        );
    }

    fn seat_freed(&self) {
        let open = self.open.fetch_sub(1, Ordering::Relaxed) - 1;
        if open > self.low_water() || !self.at_limit.swap(false, Ordering::AcqRel) {
            return;
        }
        let since = self.since.lock().unwrap_or_else(|p| p.into_inner()).take();
        let ms = since.map_or(0, |t| t.elapsed().as_millis());
        eprintln!(
            "weir: below {} ({}) again after {ms}ms: {open} open; {} \
             client(s) waited for a seat and {} idle connection(s) were closed so far",
            self.what,
            self.max,
            self.waited.load(Ordering::Relaxed),
            self.evicted.load(Ordering::Relaxed),
        );
    }
}

impl Seat {
    /// Lists this connection (one that has had a response and waits for its next
    /// request) among those that may be asked to give up their seat, for one wait;
    /// `None` when a new client is owed a seat already (or the list is full: see
    /// `idle_list`): the caller then acts as if asked. The caller polls
    /// [`Listed::poll_asked`] beside its own wait and ends with [`Listed::end`].
    ///
    /// A handle, not a future wrapping the caller's wait: every idle connection's task
    /// carries its wait, and a combinator around it cost ~300 bytes each (see
    /// `crate::idle_wait`).
    pub fn listed(&self) -> Option<Listed<'_>> {
        let mut idle = self.limit.idle();
        if idle.owed > 0 {
            idle.owed -= 1;
            return None;
        }
        // With a waker that does nothing until the wait's first poll puts its own; a
        // full list (a million listed: `idle_list`) lists no more.
        let id = idle.waiting.join()?;
        Some(Listed {
            limit: &self.limit,
            id,
        })
    }

    /// Runs `wait` (a connection that has had a response, waiting for its next request)
    /// unless this connection is asked to give up its seat first: then `None`, and the
    /// caller either closes it ([`give_up`](Self::give_up)) or, if a request is
    /// arriving after all, [`pass_on`](Self::pass_on)s the ask. (HTTP/1.x connections
    /// use [`listed`](Self::listed) inside their own wait instead.)
    ///
    /// `wait` is pinned by the caller: taken by value, it would be stored twice in this
    /// future, and every idle connection would carry the copy.
    pub async fn idle<T>(&mut self, mut wait: Pin<&mut impl Future<Output = T>>) -> Option<T> {
        let listed = self.listed()?;
        let woke = std::future::poll_fn(|cx| match wait.as_mut().poll(cx) {
            Poll::Ready(done) => Poll::Ready(Some(done)),
            Poll::Pending => listed.poll_asked(cx).map(|()| None),
        })
        .await;
        listed.end(woke.is_none());
        woke
    }

    /// Closing because asked: counted.
    pub fn give_up(&self) {
        self.limit.evicted.fetch_add(1, Ordering::Relaxed);
    }

    /// Asked, but not idle after all: bytes (or a close) arrived that the wait had not
    /// seen yet. The next longest-idle connection is asked instead.
    pub fn pass_on(&self) {
        self.limit.ask_one();
    }
}

/// A connection's entry in the idle list, removed however the wait ends (a timeout
/// or a shutdown may drop the wait mid-way).
pub(crate) struct Listed<'a> {
    limit: &'a Limit,
    id: u64,
}

impl Listed<'_> {
    /// Ready once this connection is asked to give up its seat (its entry is gone);
    /// otherwise the entry keeps this poll's waker.
    pub fn poll_asked(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut idle = self.limit.idle();
        match idle.waiting.waker_mut(self.id) {
            None => Poll::Ready(()),
            Some(waker) => {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
                Poll::Pending
            }
        }
    }

    /// The wait is over, `asked` or not. If the request (or a close) won a race with
    /// the ask, the ask passes on to the next longest-idle connection, so the new
    /// client is not left waiting; if asked, the caller answers it
    /// ([`Seat::give_up`] or [`Seat::pass_on`]).
    pub fn end(self, asked: bool) {
        let limit = self.limit;
        if !self.leave() && !asked {
            limit.ask_one();
        }
    }

    /// Leaves the list; false if an ask had already taken this entry off it.
    fn leave(self) -> bool {
        let listed = self.limit.idle().waiting.leave(self.id);
        std::mem::forget(self);
        listed
    }
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.limit.idle().waiting.leave(self.id);
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.limit.seat_freed();
    }
}
