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
//! One task may wait per direction at a time (a second waiter replaces the first); the
//! proxy reads a socket from one task and writes it from one task.

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
/// One delivered event, counted above the readiness bits.
const EVENT: usize = 16;
const READINESS: usize = EVENT - 1;

#[derive(Clone, Copy)]
pub(crate) enum Dir {
    Read,
    Write,
}

#[derive(Default)]
pub(crate) struct Source {
    state: AtomicUsize,
    /// A waiting task per direction, indexed by `Dir`.
    wakers: [Mutex<Option<Waker>>; 2],
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
    /// Called by the reactor for an event: records readiness, hands over the waiters.
    pub(crate) fn set_ready(&self, r: Readiness, wake: &mut Vec<Waker>) {
        let bit = |on: bool, bit: usize| if on { bit } else { 0 };
        let bits = bit(r.read, READ)
            | bit(r.write, WRITE)
            | bit(r.read_closed, READ_CLOSED)
            | bit(r.write_closed, WRITE_CLOSED);
        let _ = self
            .state
            .fetch_update(SeqCst, SeqCst, |s| Some((s | bits).wrapping_add(EVENT)));
        for dir in [Dir::Read, Dir::Write] {
            if bits & dir.ready() != 0 {
                let waiting = self.wakers[dir as usize]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
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
                let mut waiting = self.wakers[dir as usize]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match &mut *waiting {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    other => *other = Some(cx.waker().clone()),
                }
                drop(waiting);
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
        while now & !READINESS == seen & !READINESS {
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
