//! Sleeping until a deadline, on the reactor's timer list (no timerfd, no extra thread:
//! the next deadline becomes `epoll_wait`'s timeout).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::clock;
use super::reactor::{self, Reactor};

/// Resolves at its deadline; dropping it early takes it off the reactor's list.
pub struct Timer {
    /// The deadline in the clock's ticks (`clock::ticks`): integers to add and compare.
    at: u64,
    /// Due without asking the clock: made with a zero duration, or already fired.
    fired: bool,
    filed: Option<(Arc<Reactor>, u64)>,
}

impl Timer {
    pub fn after(d: Duration) -> Timer {
        let at = clock::ticks().saturating_add(clock::ticks_in(d));
        Timer {
            at,
            fired: d.is_zero(),
            filed: None,
        }
    }
}

impl Timer {
    /// Makes the timer due `d` from now. A filed one is moved on its reactor's list
    /// (`Timers::reschedule`: a write of its deadline when it stays in its slot) rather
    /// than cancelled and filed again: a keep-alive connection's idle timer, kept across
    /// its requests, was a `set_timer` and a `cancel_timer` a request, with the waker's
    /// clone and drop and the reactor's `Arc` (136 instructions a request more than the
    /// move: bench/profiling.md, "Timers, round four").
    pub fn reset(&mut self, d: Duration) {
        self.at = clock::ticks().saturating_add(clock::ticks_in(d));
        self.fired = d.is_zero();
        if let Some((reactor, id)) = &self.filed {
            if !reactor.move_timer(*id, self.at) {
                self.filed = None; // it fired meanwhile: the next poll files it again
            }
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        match &self.filed {
            Some((reactor, id)) => {
                if clock::ticks() >= at {
                    reactor.cancel_timer(*id);
                    self.filed = None;
                    self.fired = true;
                    return Poll::Ready(());
                }
                reactor.set_timer(at, Some(*id), cx.waker());
            }
            // The first poll files the timer without reading the clock again: `after`
            // read it a moment ago (`rt::sleep` and `rt::timeout` make the timer on their
            // first poll), and a deadline that passed since is due at the reactor's next
            // turn, whose wait it makes zero. On the hot path that is a clock read per
            // timeout that goes pending, two per proxied request.
            None if self.fired => return Poll::Ready(()),
            None => {
                let reactor = reactor::current();
                let id = reactor.set_timer(at, None, cx.waker());
                self.filed = Some((reactor, id));
            }
        }
        Poll::Pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some((reactor, id)) = self.filed.take() {
            reactor.cancel_timer(id);
        }
    }
}
