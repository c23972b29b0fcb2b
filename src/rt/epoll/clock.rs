//! The time of the thread's last reactor turn: one clock read per `epoll_wait`, shared by
//! every timer filed and every deadline computed until the next one (nginx does the same
//! with `ngx_current_msec`).
//!
//! A proxied keep-alive request read the clock about a dozen times (each timer filed,
//! the reactor before and after each wait, the pool's idle ages, the balancer's view, the
//! attempt's latency): ~50 instructions a read, in `clock_gettime` and std's `Timespec`
//! arithmetic (bench/profiling.md, "Small keep-alive requests, round six").
//!
//! What it costs in precision: the time read after a wait is stale by however long the
//! thread has run tasks since. A timer filed from it is due that much earlier than
//! "`d` from now" (never earlier than `d` after the wait that delivered the event the
//! task reacts to, so never before `d` after anything a peer did), and the next wait's
//! timeout, counted from it, ends that much later: a timer fires at most one batch of
//! tasks late (as before, a timer due while tasks run fired only after them). A batch is
//! microseconds to a few milliseconds; timeouts are configured in milliseconds at the
//! finest and seconds by default.
//!
//! Off a runtime thread (tests, the fallback reactor's users), and before a thread's
//! first turn, [`now`] reads the clock.

use std::cell::Cell;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Where [`ticks`] count from: the first time anything asked (a process-wide origin,
/// so a timer's deadline means the same to every thread's reactor).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

thread_local! {
    /// Set by the thread driving a reactor after each wait, as an `Instant` and as
    /// ticks; `None` elsewhere.
    static NOW: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
}

/// The time of this thread's last reactor turn, or the clock off a runtime thread.
pub(crate) fn now() -> Instant {
    match NOW.get() {
        Some((now, _)) => now,
        None => Instant::now(),
    }
}

/// [`now`] in nanoseconds since the process's epoch: what timers are filed and compared
/// in, so that filing one is integer arithmetic, not `Instant` subtraction (a
/// `sub_timespec`, ~37 instructions, per timer filed: bench/profiling.md, "Small
/// keep-alive requests, round six").
pub(crate) fn ticks() -> u64 {
    match NOW.get() {
        Some((_, ticks)) => ticks,
        None => ticks_at(Instant::now()),
    }
}

/// `d` in ticks, saturating (a timer `Duration::MAX` away is due never, in effect).
pub(crate) fn ticks_in(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// Reads the clock for this turn: called by the driving thread after each wait;
/// returns the turn's ticks.
pub(super) fn turn() -> u64 {
    let now = Instant::now();
    let ticks = ticks_at(now);
    NOW.set(Some((now, ticks)));
    ticks
}

/// `at` in ticks (0 for a time before the epoch: only ever compared with later ones).
fn ticks_at(at: Instant) -> u64 {
    ticks_in(at.saturating_duration_since(*EPOCH))
}

/// Marks the calling thread as driving a reactor until the guard drops; then [`now`]
/// reads the clock again (a thread that leaves `block_on` and goes on must not keep
/// its last turn's time).
pub(super) fn driving() -> impl Drop {
    struct Forget;
    impl Drop for Forget {
        fn drop(&mut self) {
            NOW.set(None);
        }
    }
    LazyLock::force(&EPOCH);
    Forget
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::block_on::block_on;
    use super::super::timer::Timer;
    use super::*;

    /// Busy for `d` without yielding: a task that computes (or blocks) in one poll.
    fn spin(d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {}
    }

    #[test]
    fn a_runtime_thread_reads_the_clock_once_a_turn_and_forgets_it_after() {
        let (first, same, after_sleep) = block_on(async {
            Timer::after(Duration::from_millis(1)).await; // one turn at least
            let first = now();
            spin(Duration::from_millis(5));
            let same = now();
            Timer::after(Duration::from_millis(20)).await;
            (first, same, now())
        });
        assert_eq!(first, same, "read the clock again within the turn");
        // Filed from the turn's time, the timer is due 20 ms after the turn, not after
        // the filing: it may fire 15 ms after the filing (when another turn, which reads
        // the clock afresh, comes in between), never before the turn's 20 ms, which the
        // turn that fires it read.
        assert!(
            after_sleep >= first + Duration::from_millis(20),
            "woke early: {:?} after the turn",
            after_sleep - first
        );
        assert!(
            NOW.get().is_none(),
            "kept the last turn's time after block_on"
        );
        let (a, b) = (now(), {
            spin(Duration::from_millis(2));
            now()
        });
        assert!(
            b >= a + Duration::from_millis(2),
            "off a runtime thread: a fresh read"
        );
    }

    #[test]
    fn a_timer_filed_late_in_a_turn_counts_from_the_turn_and_fires_at_most_a_batch_late() {
        let (from_filing, from_turn) = block_on(async {
            Timer::after(Duration::from_millis(1)).await;
            let turn = now();
            spin(Duration::from_millis(30)); // the batch runs on after the wait
            let filed = Instant::now();
            Timer::after(Duration::from_millis(100)).await;
            (filed.elapsed(), turn.elapsed())
        });
        // Due 100 ms after the turn, 70 ms after it was filed; the next wait's timeout
        // counts from the turn too, so it may end up to the 30 ms batch late.
        assert!(
            from_turn >= Duration::from_millis(100),
            "early: {from_turn:?}"
        );
        assert!(from_filing >= Duration::from_millis(70), "{from_filing:?}");
        assert!(
            from_turn < Duration::from_millis(100 + 30 + 500),
            "later than one batch past its deadline, and then some: {from_turn:?}"
        );
    }
}
