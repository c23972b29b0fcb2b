//! A keep-alive connection's wait between requests, as one hand-written future.
//!
//! The wait ends on the first of four things: the client's next bytes (or its close),
//! a drain (not before the first request: see `connection`), the idle deadline, or an
//! ask to give up the seat for a new client at `max_connections` (see `admission`).
//! Every idle connection's task holds this wait for as long as it idles, so its size is
//! most of what an idle connection costs. Written as nested combinators (`rt::timeout`
//! around `or` around two `async` blocks, inside `Seat::idle`'s own race) it took ~450
//! bytes: each layer kept its own state, and an `async fn` keeps a second copy of every
//! argument it moves into a future. This struct holds three pointers, the deadline and
//! the timer (bench/profiling.md, "Idle keep-alive connection: where the bytes go").
//!
//! The order of the checks is the old race's: the client's bytes first (a request that
//! arrived is served even if the deadline passed or an ask came meanwhile), then the
//! drain, the deadline and the ask. As `rt::timeout` does, the timer is filed only when
//! the first poll finds nothing to do.
//!
//! The drain is not a future polled here: that held a listener on the stop signal for
//! each idle connection, a 56-byte allocation for its life, and 40 bytes of its task.
//! The wait reads the signal's flag instead, after its waker is in the idle list, and
//! the drain wakes every listed wait once the signal has fired (`Limit::wake_idle`):
//! a wait that listed its waker before that wake is woken by it, one that listed it
//! after finds the flag set (both under the list's lock).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::admission::Listed;
use crate::rt::{self, Backend};
use crate::shutdown::Signal;

pub(crate) type Timer = <rt::Chosen as Backend>::Timer;

/// What ended the wait.
pub(crate) enum Woke {
    /// The client sent something (`Ok(n)`, n > 0), closed (`Ok(0)`) or failed.
    Data(io::Result<usize>),
    /// weir is draining.
    Stop,
    /// The idle (or first-request) deadline passed.
    TimedOut,
    /// The connection was asked to give up its seat.
    Asked,
}

/// The wait itself: the caller pins `data` in its own frame and lends it.
pub(crate) struct IdleWait<'a, D> {
    data: Pin<&'a mut D>,
    /// Only with `listed`: the drain wakes listed waits alone.
    stop: Option<&'a Signal>,
    listed: Option<&'a Listed<'a>>,
    /// The connection's, kept across its waits and set with each (`Backend::reset`):
    /// on the epoll runtime a timer still filed from the last wait is moved, not
    /// cancelled and filed again (`rt::epoll::timer`); a fresh one is filed on the first
    /// poll that finds nothing to do.
    timer: &'a mut Timer,
}

/// A drain (`stop`) and an ask for the seat, for a wait listed as idle.
pub(crate) type Listing<'a> = Option<(&'a Signal, &'a Listed<'a>)>;

impl<'a, D> IdleWait<'a, D>
where
    D: Future<Output = io::Result<usize>>,
{
    /// Waits up to `limit` for `data`, on `timer` (set here); when `listed`, a drain
    /// (its `Signal` fired) and an ask for the seat end it early.
    pub fn new(
        data: Pin<&'a mut D>,
        listed: Listing<'a>,
        timer: &'a mut Timer,
        limit: Duration,
    ) -> Self {
        rt::Chosen::reset(timer, limit);
        IdleWait {
            data,
            stop: listed.map(|(stop, _)| stop),
            listed: listed.map(|(_, listed)| listed),
            timer,
        }
    }
}

impl<D> Future for IdleWait<'_, D>
where
    D: Future<Output = io::Result<usize>>,
{
    type Output = Woke;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Woke> {
        let this = self.get_mut();
        if let Poll::Ready(read) = this.data.as_mut().poll(cx) {
            return Poll::Ready(Woke::Data(read));
        }
        // Before the drain's flag is read: the waker must be listed first (module docs).
        let asked = this.listed.map(|l| l.poll_asked(cx));
        if this.stop.is_some_and(Signal::is_fired) {
            return Poll::Ready(Woke::Stop);
        }
        if Pin::new(&mut *this.timer).poll(cx).is_ready() {
            return Poll::Ready(Woke::TimedOut);
        }
        match asked {
            Some(Poll::Ready(())) => Poll::Ready(Woke::Asked),
            _ => Poll::Pending,
        }
    }
}
