//! What the reactor knows of one socket: is it readable, is it writable, and who waits.
//!
//! Readiness is a word: a bit per direction, a sticky "closed" bit per direction, and,
//! above them, a count of the events delivered. An operation snapshots the word, makes
//! its system call, and clears its direction's bit only if the call showed the socket
//! drained (EAGAIN, or a read or write shorter than asked for, as tokio does) *and* no
//! event arrived meanwhile (the count is unchanged). With edge-triggered epoll that is
//! enough never to miss data, and a task that waits for readiness already known pays
//! no system call at all.
//!
//! A short transfer never clears the closed bits: a FIN that arrives with the last data
//! comes in the same single event, so after the short read that clears `READ` nothing
//! would ever announce the EOF still to be read. Only EAGAIN clears them.
//!
//! A socket is watched for writes only once a write has had to wait (`WATCHES_WRITES`):
//! a socket epoll watches for `EPOLLOUT` is reported writable the moment it is added, a
//! reactor turn for nothing on a connection that never fills its send buffer (most of
//! them). Until then `WRITE` stands as an assumption (the kernel's send buffer is empty
//! on a new socket), which the first write that drains it (EAGAIN, or short) ends; then
//! `EPOLLOUT` is added (`EPOLL_CTL_MOD`, which reports the socket at once should it have
//! become writable meanwhile), and from then on epoll's edges keep `WRITE` as before.
//!
//! One task may wait per direction at a time: the proxy reads a socket from one task and
//! writes it from one task. A second waiter replaces the first, and the first is woken
//! (as async-io does), so it polls again and finds out, instead of sleeping forever.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

const READ: usize = 1;
const WRITE: usize = 2;
/// The peer shut its side, or the socket failed (RDHUP, HUP, ERR): reads return now.
const READ_CLOSED: usize = 4;
/// The socket hung up or failed (HUP, ERR): writes return now.
const WRITE_CLOSED: usize = 8;
/// epoll watches the socket for writes (`EPOLLOUT`): a write that waits is woken by an
/// edge. Without it, the socket's `WRITE` is assumed until a write says otherwise.
const WATCHES_WRITES: usize = 16;
/// One delivered event, counted above the readiness bits.
const EVENT: usize = 32;
const FLAGS: usize = EVENT - 1;

#[derive(Clone, Copy)]
pub(crate) enum Dir {
    Read,
    Write,
}

pub(crate) struct Source {
    state: AtomicUsize,
    /// A waiting task per direction, indexed by `Dir`. One lock for both (a lock each
    /// was 8 bytes more, which put every socket's `Arc<Source>` in mimalloc's 80-byte
    /// class, not 64: bench/profiling.md, "Idle connections, round six"); each
    /// direction's task holds it for a swap of one waker.
    wakers: Mutex<[Option<Waker>; 2]>,
}

/// Watched for writes from the start: every readiness bit then comes from epoll.
impl Default for Source {
    fn default() -> Source {
        Source::watching_writes()
    }
}

impl Dir {
    /// The bit a drained socket clears.
    fn bit(self) -> usize {
        match self {
            Dir::Read => READ,
            Dir::Write => WRITE,
        }
    }

    /// The bits that let an operation in this direction go ahead.
    fn ready(self) -> usize {
        match self {
            Dir::Read => READ | READ_CLOSED,
            Dir::Write => WRITE | WRITE_CLOSED,
        }
    }
}

/// What an epoll event says, in readiness bits.
pub(crate) struct Readiness {
    pub(crate) read: bool,
    pub(crate) write: bool,
    pub(crate) read_closed: bool,
    pub(crate) write_closed: bool,
}

impl Source {
    /// A source epoll watches for writes from the start (a connecting socket: the
    /// writable edge is how a non-blocking connect completes).
    pub(crate) fn watching_writes() -> Source {
        Source::with_state(WATCHES_WRITES)
    }

    /// A source epoll watches for reads only: writes go ahead until one would block
    /// (then [`Source::watch_writes`]).
    pub(crate) fn assumed_writable() -> Source {
        Source::with_state(WRITE)
    }

    fn with_state(state: usize) -> Source {
        Source {
            state: AtomicUsize::new(state),
            wakers: Mutex::default(),
        }
    }

    /// True once, for the first caller after the socket's writes began to wait: that
    /// caller asks epoll for `EPOLLOUT`. A waiting writer has filed its waker before it
    /// asks, so the event the `EPOLL_CTL_MOD` reports (the socket may be writable again
    /// already) finds it.
    pub(crate) fn watch_writes(&self) -> bool {
        self.state.load(SeqCst) & WATCHES_WRITES == 0
            && self.state.fetch_or(WATCHES_WRITES, SeqCst) & WATCHES_WRITES == 0
    }

    /// Called by the reactor for an event: records readiness, hands over the waiters.
    pub(crate) fn set_ready(&self, r: Readiness, wake: &mut Vec<Waker>) {
        let bit = |on: bool, bit: usize| if on { bit } else { 0 };
        let bits = bit(r.read, READ)
            | bit(r.write, WRITE)
            | bit(r.read_closed, READ_CLOSED)
            | bit(r.write_closed, WRITE_CLOSED);
        let before = self
            .state
            .fetch_update(SeqCst, SeqCst, |s| Some((s | bits).wrapping_add(EVENT)))
            .unwrap_or_else(|s| s);
        for dir in [Dir::Read, Dir::Write] {
            // Only a direction that was not ready can have a task asleep on it: a waiter
            // parks only after its re-check (with its waker filed) finds the bits clear,
            // and the event that set them since took that waker. Edge-triggered epoll
            // reports a writable socket's OUT with every read event, so this skips the
            // writer's lock on almost every event.
            if bits & dir.ready() != 0 && before & dir.ready() == 0 {
                let waiting =
                    self.wakers.lock().unwrap_or_else(PoisonError::into_inner)[dir as usize].take();
                wake.extend(waiting);
            }
        }
    }

    /// Runs `op` once the socket is ready in `dir`; `drained` says whether a successful
    /// result shows the kernel had no more (a short read or write).
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            let seen = self.state.load(SeqCst);
            if seen & dir.ready() == 0 {
                let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
                let displaced = match &mut wakers[dir as usize] {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    other => other.replace(cx.waker().clone()),
                };
                drop(wakers);
                if let Some(w) = displaced {
                    wake_guarded(w);
                }
                // An event may have landed between the load and filing the waker.
                if self.state.load(SeqCst) & dir.ready() == 0 {
                    return Poll::Pending;
                }
                continue;
            }
            match op() {
                Ok(r) => {
                    if drained(&r) {
                        self.clear(seen, dir.bit());
                    }
                    return Poll::Ready(Ok(r));
                }
                // The kernel says there is nothing: a "closed" bit was not final either
                // (this never happens after a real FIN or error, but must not spin).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(seen, dir.ready()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Forgets the readiness `bits`, unless an event arrived since `seen` was read.
    fn clear(&self, seen: usize, bits: usize) {
        let mut now = seen;
        while now & !FLAGS == seen & !FLAGS {
            match self
                .state
                .compare_exchange(now, now & !bits, SeqCst, SeqCst)
            {
                Ok(_) => return,
                Err(actual) => now = actual,
            }
        }
    }
}

/// Wakes `waker`, containing a panic in it: a waker is the executor's code, and one that
/// panics must not take down the reactor thread (or a task that happened to displace
/// it) with every other socket it serves.
pub(crate) fn wake_guarded(waker: Waker) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    /// Every socket holds an `Arc<Source>`: with the `Arc`'s two counts it must fit
    /// mimalloc's 64-byte class (it was 72 bytes, in the 80 class, with a lock per
    /// direction).
    #[test]
    fn a_source_and_its_counts_fit_64_bytes() {
        assert!(std::mem::size_of::<Source>() + 16 <= 64);
    }

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    fn woken(count: &Count) -> usize {
        count.0.load(SeqCst)
    }

    fn event(read: bool, read_closed: bool) -> Readiness {
        Readiness {
            read,
            write: false,
            read_closed,
            write_closed: false,
        }
    }

    /// Delivers an event as the reactor does and wakes what it hands over.
    fn deliver(source: &Source, r: Readiness) {
        let mut wake = Vec::new();
        source.set_ready(r, &mut wake);
        wake.into_iter().for_each(Waker::wake);
    }

    fn would_block() -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    #[test]
    fn an_event_during_the_system_call_keeps_the_socket_ready() {
        let source = Source::default();
        deliver(&source, event(true, false));
        let (_, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let mut calls = 0;
        // The first call sees EAGAIN, but an event lands before its result is recorded:
        // the CAS must fail and the read be tried again, not the readiness forgotten.
        let polled = source.poll_io(
            &mut cx,
            Dir::Read,
            || {
                calls += 1;
                if calls == 1 {
                    deliver(&source, event(true, false));
                    return would_block();
                }
                Ok(5)
            },
            |_| false,
        );
        assert!(matches!(polled, Poll::Ready(Ok(5))));
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_drained_socket_waits_for_the_next_edge_and_is_woken_once() {
        let source = Source::default();
        deliver(&source, event(true, false));
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        // A short read drains the socket: the next read waits without a system call.
        let short = source.poll_io(&mut cx, Dir::Read, || Ok(3), |&n| n < 10);
        assert!(matches!(short, Poll::Ready(Ok(3))));
        let mut called = false;
        let waiting = source.poll_io(
            &mut cx,
            Dir::Read,
            || {
                called = true;
                Ok(0)
            },
            |_| false,
        );
        assert!(waiting.is_pending() && !called);
        deliver(&source, event(true, false));
        assert_eq!(woken(&count), 1);
        deliver(&source, event(true, false));
        assert_eq!(
            woken(&count),
            1,
            "a waiter already handed over was woken twice"
        );
        let known = source.poll_io(&mut cx, Dir::Read, || Ok(7), |_| false);
        assert!(matches!(known, Poll::Ready(Ok(7))));
    }

    #[test]
    fn a_short_read_keeps_the_eof_that_came_with_it() {
        let source = Source::default();
        deliver(&source, event(true, true));
        let (_, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let short = source.poll_io(&mut cx, Dir::Read, || Ok(3), |&n| n < 10);
        assert!(matches!(short, Poll::Ready(Ok(3))));
        let eof = source.poll_io(&mut cx, Dir::Read, || Ok(0), |_| false);
        assert!(matches!(eof, Poll::Ready(Ok(0))), "the FIN was forgotten");
        // EAGAIN is final: the closed bit goes too, so a waiter parks instead of spinning.
        let parked = source.poll_io(&mut cx, Dir::Read, would_block, |_| false);
        assert!(parked.is_pending());
    }

    #[test]
    fn a_displaced_waiter_is_woken() {
        let source = Source::default();
        let (first, first_waker) = counter();
        let (second, second_waker) = counter();
        let pending = |waker: &Waker| {
            let mut cx = Context::from_waker(waker);
            source.poll_io(&mut cx, Dir::Read, would_block, |_| false)
        };
        assert!(pending(&first_waker).is_pending());
        assert!(pending(&first_waker).is_pending());
        assert_eq!(
            woken(&first),
            0,
            "re-polling with the same waker displaced it"
        );
        assert!(pending(&second_waker).is_pending());
        assert_eq!(
            woken(&first),
            1,
            "the displaced waiter was dropped without a wake"
        );
        deliver(&source, event(true, false));
        assert_eq!((woken(&first), woken(&second)), (1, 1));
    }

    #[test]
    fn directions_wait_apart() {
        let source = Source::default();
        let (reader, read_waker) = counter();
        let (writer, write_waker) = counter();
        let mut cx = Context::from_waker(&read_waker);
        assert!(source
            .poll_io(&mut cx, Dir::Read, would_block, |_| false)
            .is_pending());
        let mut cx = Context::from_waker(&write_waker);
        assert!(source
            .poll_io(&mut cx, Dir::Write, would_block, |_| false)
            .is_pending());
        assert_eq!(woken(&reader), 0, "a writer displaced the reader");
        deliver(&source, event(true, false));
        assert_eq!((woken(&reader), woken(&writer)), (1, 0));
    }

    /// A source watched for reads only writes at once, with no event; once a write
    /// would block the writer waits, and epoll is asked to watch writes once only.
    #[test]
    fn writes_are_assumed_until_one_would_block_and_then_watched_once() {
        let source = Source::assumed_writable();
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let wrote = source.poll_io(&mut cx, Dir::Write, || Ok(5), |&n| n < 5);
        assert!(matches!(wrote, Poll::Ready(Ok(5))));
        assert!(source
            .poll_io(&mut cx, Dir::Write, would_block, |_| false)
            .is_pending());
        assert!(
            source.watch_writes(),
            "the first wait did not ask for writes"
        );
        assert!(!source.watch_writes(), "writes were asked for twice");
        deliver(
            &source,
            Readiness {
                read: false,
                write: true,
                read_closed: false,
                write_closed: false,
            },
        );
        assert_eq!(woken(&count), 1);
        assert!(!Source::watching_writes().watch_writes());
    }
}
