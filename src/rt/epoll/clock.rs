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
use std::time::Instant;

thread_local! {
    /// Set by the thread driving a reactor after each wait; `None` elsewhere.
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The time of this thread's last reactor turn, or the clock off a runtime thread.
pub(crate) fn now() -> Instant {
    NOW.get().unwrap_or_else(Instant::now)
}

/// Reads the clock for this turn: called by the driving thread after each wait.
pub(super) fn turn() -> Instant {
    let now = Instant::now();
    NOW.set(Some(now));
    now
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
    Forget
}
