//! How many client connections the process has open: how much the per-thread lists of
//! kept read buffers (`http::spare`) and request scratches (`exchange::kept`) may hold
//! when a connection closes.
//!
//! Those lists must drain once a burst's connections have closed (a kept block pins the
//! allocator page it sits in), so a closing connection used to leave its buffer for the
//! next only while four or fewer were kept, and otherwise freed it and a kept one. With
//! a new connection per request under load that emptied them: a thread turns over many
//! connections at once (wrk's 50), each close took a kept block away, and three
//! connections in four zeroed a fresh 4 KiB buffer and grew a fresh scratch, about
//! 4,500 of the 24,200 instructions a connection cost (bench/profiling.md, "New
//! connections, round two").
//!
//! Bounded by the connections open instead, the lists keep what the traffic in flight
//! can use, and still drain as a burst's connections close. Not by the connections open
//! at the close itself, though: a thread accepts a batch, and as the batch's
//! connections close one by one the count falls with them, so the list would be drained
//! again by the batch's own last closes, before the next batch. The bound is the most
//! connections each thread has seen open at a close within the last second ([`HOLD`]),
//! so it holds between batches and falls to its floor once a burst is a second past.
//!
//! One count for the process, not one per thread: a connection may close on another
//! thread than the one that accepted it, and a per-thread count would drift.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

static OPEN: AtomicUsize = AtomicUsize::new(0);

/// How long the most connections seen open hold the bound up after they were seen.
const HOLD: Duration = Duration::from_secs(1);

thread_local! {
    /// The most connections this thread has seen open at a close lately, and until
    /// when that holds the bound up.
    static PEAK: Cell<Option<(usize, Instant)>> = const { Cell::new(None) };
}

/// Held by a client connection for its life: counted open until dropped. No bytes in
/// the connection's task.
pub(crate) struct Counted(());

impl Counted {
    pub(crate) fn new() -> Counted {
        OPEN.fetch_add(1, Relaxed);
        Counted(())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Relaxed);
    }
}

/// How many blocks a thread's list may keep as a connection closes: as many as client
/// connections were open at most in the last [`HOLD`], within `floor..=cap`.
pub(crate) fn keep_on_close(floor: usize, cap: usize) -> usize {
    let open = OPEN.load(Relaxed);
    let now = crate::rt::now();
    let peak = PEAK.try_with(|p| recent_peak(p, open, now)).unwrap_or(open);
    peak.clamp(floor, cap.max(floor))
}

/// How many of a thread's kept blocks stay when a closing connection finds `kept` of
/// them at or past `bound` (from [`keep_on_close`]). At the bound, one goes with the
/// closing connection's, as traffic turns over. Past twice the bound, the bound has
/// fallen under a burst's leftovers (a second after the burst), and they all go: the
/// list hands out its newest blocks first, so the few a cut to the bound would keep are
/// the oldest, allocated in the burst, each pinning an allocator page the burst's
/// other blocks emptied (tests/burst_memory.rs, 3,000 connections: 2.9 to 3.6 MiB of
/// anonymous memory left in 12 runs, 3.4 to 4.4 in 16 beside a CI run, against 3.3 to
/// 4.9 in 18 with them kept). The next connections allocate afresh, once.
pub(crate) fn kept_after_cut(kept: usize, bound: usize) -> usize {
    if kept > 2 * bound {
        0
    } else {
        bound.saturating_sub(1)
    }
}

/// The most connections seen open at `peak` within [`HOLD`] of `now`, `open` counted.
/// The end of the hold is kept rather than its start: comparing two instants is cheap,
/// a duration between them was ~37 instructions a call, twice a connection.
fn recent_peak(peak: &Cell<Option<(usize, Instant)>>, open: usize, now: Instant) -> usize {
    match peak.get() {
        Some((most, until)) if most > open && now < until => most,
        _ => {
            peak.set(Some((open, now + HOLD)));
            open
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_stays_within_its_floor_and_cap() {
        // Other tests on other threads open connections too: only bounds are certain.
        assert!((4..=32).contains(&keep_on_close(4, 32)));
        let open: Vec<Counted> = (0..64).map(|_| Counted::new()).collect();
        assert_eq!(keep_on_close(4, 32), 32);
        drop(open);
        assert_eq!(keep_on_close(4, 4), 4);
    }

    #[test]
    fn a_list_at_its_bound_loses_one_and_a_bursts_leftovers_go_whole() {
        assert_eq!(kept_after_cut(4, 4), 3);
        assert_eq!(kept_after_cut(8, 4), 3);
        assert_eq!(kept_after_cut(50, 47), 46); // the bound wobbling under load
        assert_eq!(kept_after_cut(32, 4), 0);
        assert_eq!(kept_after_cut(256, 4), 0);
    }

    #[test]
    fn the_most_connections_seen_open_hold_the_bound_for_a_second() {
        let peak = Cell::new(None);
        let t = Instant::now();
        assert_eq!(recent_peak(&peak, 50, t), 50);
        // A batch's connections close one by one: the bound holds.
        assert_eq!(recent_peak(&peak, 10, t + Duration::from_millis(5)), 50);
        assert_eq!(recent_peak(&peak, 0, t + Duration::from_millis(900)), 50);
        // More open: the bound rises, and holds from then.
        assert_eq!(recent_peak(&peak, 60, t + Duration::from_millis(950)), 60);
        assert_eq!(recent_peak(&peak, 2, t + Duration::from_millis(1900)), 60);
        // A second after the most were seen, it follows the connections open again.
        assert_eq!(recent_peak(&peak, 2, t + Duration::from_millis(1950)), 2);
        assert_eq!(recent_peak(&peak, 1, t + Duration::from_millis(2000)), 2);
    }
}
