//! Looking for work a little longer before sleeping, while another thread drives a
//! reactor too.
//!
//! With two or more runtime threads, a thread that runs dry and sleeps in `epoll_wait`
//! must be scheduled again when its next event comes. On a machine whose CPUs are shared
//! with the peers it serves (wrk and the origins, in the benchmarks), that wake-up waits
//! for a CPU: at 2 threads on 2 cores a 1 MiB relay spent so long waiting that weir's
//! rate *fell* from 1 thread to 2 (2,368 to ~1,900 req/s), at 66–69% of a core, where
//! tokio, whose idle workers search for work before they park, rose to 2,500–2,900.
//!
//! So before a sleep the thread polls its epoll without a timeout for up to [`SPIN`],
//! giving the CPU away (`sched_yield`) between polls: a peer that is runnable runs
//! first, and the thread, still runnable, needs no wake-up when its event comes. At 2
//! threads, against the same build without it (`bench/run.sh --threads 2`, 5 repeats,
//! three runs): 1 MiB responses +21%, +25% and +32% req/s; new connections +11% and
//! +13%; the saturated small-response p99 3.01, 2.15 and 3.39 ms against 4.07, 4.00 and
//! 3.98 (tokio 2.57, 2.69, 2.87). The price: 10–14% more CPU per small keep-alive
//! request (0–3% fewer of them when saturated), 5–9% more in the paced scenario
//! (bench/profiling.md, "Runtimes at 2 threads, round two"). Without the yields, 200 µs
//! took small responses to 0.80× tokio's rate; with them, 200 µs cost the paced scenario
//! 29% more CPU per request.
//!
//! While it looks, the thread also takes work another runtime thread has not got to:
//! the socket events waiting on the reactors of the threads that are not asleep in
//! `epoll_wait` (`Reactor::take_others_events`; their tasks are woken here), and the
//! tasks queued on the other workers (`lean_executor::others_have_tasks`: it stops
//! looking and its executor steals them). On CPUs shared with busy peers the scheduler
//! can leave one of two runtime threads runnable but unrun for most of a run: at 2
//! threads in a saturated closed loop it did in about one round of three, with that
//! thread's connections served at 0.19–0.32× the others' rate and wrk's p99 at 3.4–5.0
//! ms. With the thread's work taken, no round of 8 starved (bench/profiling.md,
//! "Runtimes at `a431e92`, and the 2-thread tail, round three"; `bench/tail.sh` shows
//! the split by thread).
//!
//! Each poll and each yield is a system call: at 2 threads a small keep-alive request
//! costs 6.68–6.82 of them against 4.14–4.15 at 1 thread (tokio 4.21), at about tokio's
//! CPU per request (`bench/runtimes.sh`, `bench/results/runtimes/counts-a431e92.md`).
//!
//! A thread alone in its process never spins: nobody else could take the events
//! meanwhile, and its next `epoll_wait` hands the CPU to what its writes woke. Measured
//! with the check taken out, at 1 thread: 1 MiB responses 0.74× and TLS small 0.89× the
//! rate without the spin (`bench/results/runtimes/spin-1-scratch-a431e92.md`).

use std::thread;
use std::time::{Duration, Instant};

/// How long a thread looks for work before it sleeps.
pub(super) const SPIN: Duration = Duration::from_micros(50);

/// Calls `found` (a non-blocking poll: is there something to do now?) until it says yes
/// or [`SPIN`] has passed, yielding the CPU between calls; at once `false` while no other
/// thread of the process drives a reactor. Returns what the last call said.
pub(super) fn before_sleep(found: impl FnMut() -> bool) -> bool {
    if !super::give_way::others_drive() {
        return false;
    }
    look_for(SPIN, found)
}

fn look_for(spin: Duration, mut found: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + spin;
    loop {
        if found() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_looking_at_the_first_find() {
        let mut calls = 0;
        let found = look_for(Duration::from_secs(60), || {
            calls += 1;
            calls == 3
        });
        assert!(found);
        assert_eq!(calls, 3);
    }

    #[test]
    fn gives_up_once_the_spin_has_passed() {
        let start = Instant::now();
        let mut calls = 0;
        let found = look_for(SPIN, || {
            calls += 1;
            false
        });
        assert!(!found);
        assert!(calls >= 1);
        assert!(start.elapsed() >= SPIN);
    }
}
