//! Giving the CPU away after a batch's writes, while doing so is cheap.
//!
//! A write to a loopback socket wakes its reader. When the other CPUs are busy, Linux puts
//! the woken process on the writer's CPU (a synchronous wake-up), behind the writer. weir
//! would then go on to its next `epoll_wait` and next batch, and the origin it just handed
//! a request to would wait for weir's time slice to run out before it could answer. So
//! after the deferred writes of a batch ([`super::end_of_batch`]) the thread calls
//! `sched_yield`: whatever it woke on its own CPU answers now, and the answers are there
//! for the next batch. Where nothing else is runnable, the call returns at once.
//!
//! On the small-response bench (two shared cores: wrk, three origins and the proxy), p99
//! went from 0.93–1.11× HAProxy's to 0.79–0.86× (six sets of 10–12 paired rounds), at
//! 1.04–1.11× HAProxy's requests per second (bench/profiling.md).
//!
//! The cost falls where the CPU is shared with processes weir did not wake: a yield then
//! hands a busy neighbour (a batch job, say) a whole time slice, milliseconds, with weir's
//! batch waiting behind it. With two CPU hogs beside the bench, yielding after every
//! batch took weir from 1.08× to 0.70× HAProxy's rate. Yields to the processes weir woke
//! take microseconds (under 0.5 ms in that bench), so a yield that takes longer than
//! [`LONG_YIELD`] means a neighbour like that, and weir stops yielding for [`PAUSE`]:
//! at most one long wait a second where that is so.
//!
//! Nor does weir yield after a batch that one event started ([`BUSY_TURN`]): a thread
//! that took a single event from its last `epoll_wait` is keeping up with its sockets,
//! and its next `epoll_wait` most likely sleeps, which hands the CPU to what the writes
//! woke without a system call. The yield is for a thread that is behind, whose next turn
//! would find more work at once. On sequential keep-alive requests (one at a time on
//! one connection) that drops both yields per request: 8 system calls per request to 6,
//! nginx's 7 (bench/profiling.md, issue 24).
//!
//! Nor does a thread yield while another thread of the process drives a reactor too
//! (`threads` > 1). There a yield lets wrk and the origins catch up and go back to sleep,
//! so the next writes wake them again, one by one: at 2 threads (wrk -c50, small
//! responses) the runs with 0.09 yields per request made 0.8 wake-ups and 0.8 involuntary
//! context switches per request, those without yields 0.11–0.18 and 0.02–0.10, where
//! tokio is (0.14–0.24 and 0.16; bench/profiling.md, issue 25).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

/// Longer than a yield to the processes a batch woke should take.
const LONG_YIELD: Duration = Duration::from_millis(1);

/// How long weir stops yielding after a long one.
const PAUSE: Duration = Duration::from_secs(1);

/// The fewest events a reactor turn must have taken for the batch it started to yield.
const BUSY_TURN: usize = 2;

/// How many threads of the process hold a [`GiveWay`] (drive a reactor) now.
static DRIVING: AtomicUsize = AtomicUsize::new(0);

/// One runtime thread's yield-after-writes state; counted in [`DRIVING`] while it lives.
pub(super) struct GiveWay {
    paused_until: Option<Instant>,
}

impl GiveWay {
    pub(super) fn new() -> GiveWay {
        DRIVING.fetch_add(1, Relaxed);
        GiveWay { paused_until: None }
    }

    /// Called after a pass that ran deferred writes, in a batch that a reactor turn of
    /// `events_taken` events started: yields the CPU unless that turn was quiet, another
    /// thread drives a reactor too, or yielding is paused.
    pub(super) fn after_writes(&mut self, events_taken: usize) {
        if !busy_and_alone(events_taken) {
            return;
        }
        let start = Instant::now();
        if self.paused_at(start) {
            return;
        }
        thread::yield_now();
        self.took(start, Instant::now());
    }

    fn paused_at(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|until| now < until)
    }

    /// Notes a yield from `start` to `end`: pauses yielding if it was long.
    fn took(&mut self, start: Instant, end: Instant) {
        if end.saturating_duration_since(start) >= LONG_YIELD {
            self.paused_until = Some(end + PAUSE);
        }
    }
}

/// Whether another thread of the process drives a reactor now (`spin`).
pub(super) fn others_drive() -> bool {
    DRIVING.load(Relaxed) > 1
}

/// Whether a batch that a reactor turn of `events_taken` events started may yield: the
/// turn was busy and no other thread of the process drives a reactor.
fn busy_and_alone(events_taken: usize) -> bool {
    events_taken >= BUSY_TURN && DRIVING.load(Relaxed) <= 1
}

impl Drop for GiveWay {
    fn drop(&mut self) {
        DRIVING.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other tests drive reactors meanwhile, so only "not alone" can be asserted here.
    #[test]
    fn a_thread_does_not_yield_while_another_drives_a_reactor() {
        let (_one, _two) = (GiveWay::new(), GiveWay::new());
        assert!(!busy_and_alone(BUSY_TURN * 100));
        assert!(!busy_and_alone(BUSY_TURN - 1));
    }

    #[test]
    fn a_short_yield_keeps_yielding() {
        let mut g = GiveWay::new();
        let t0 = Instant::now();
        g.took(t0, t0 + Duration::from_micros(300));
        assert!(!g.paused_at(t0 + Duration::from_millis(1)));
    }

    #[test]
    fn a_long_yield_pauses_yielding_for_a_while() {
        let mut g = GiveWay::new();
        let t0 = Instant::now();
        let end = t0 + LONG_YIELD;
        g.took(t0, end);
        assert!(g.paused_at(end));
        assert!(g.paused_at(end + PAUSE - Duration::from_millis(1)));
        assert!(!g.paused_at(end + PAUSE));
        assert!(!g.paused_at(end + PAUSE + Duration::from_millis(1)));
    }
}
