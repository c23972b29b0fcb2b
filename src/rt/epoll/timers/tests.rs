//! The timer table's unit tests: filing, moving, cancelling, opening slots.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Wake;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn waker() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

/// Fires what is due at `now` and wakes it; returns how many fired.
fn fire(timers: &mut Timers, now: u64) -> usize {
    let mut wake = Vec::new();
    timers.fire(now, &mut wake);
    let n = wake.len();
    wake.into_iter().for_each(Waker::wake);
    n
}

/// The slot lists that hold timers or are kept: `later`'s and the filling one.
fn lists(timers: &Timers) -> usize {
    timers.later.len() + usize::from(timers.filling.is_some())
}

#[test]
fn the_entry_is_32_bytes() {
    assert_eq!(size_of::<Entry>(), 32);
}

#[test]
fn a_far_timer_fires_at_its_exact_deadline_not_at_its_slot() {
    let mut timers = Timers::new();
    let (count, w) = waker();
    let at = 60_123 * MS;
    timers.insert(at, &w);
    let next = timers.next_deadline().unwrap();
    assert!(next <= at, "the driver would sleep past the deadline");
    assert_eq!(fire(&mut timers, next), 0, "fired at its slot's start");
    assert_eq!(timers.next_deadline(), Some(at), "opened, it is exact");
    assert_eq!(fire(&mut timers, at - 1), 0);
    assert_eq!(fire(&mut timers, at), 1);
    assert_eq!(count.0.load(SeqCst), 1);
    assert_eq!(fire(&mut timers, at + SLOT * 8), 0, "fired twice");
    assert_eq!(timers.next_deadline(), None);
}

#[test]
fn thousands_of_far_timers_stay_out_of_the_ordered_tree() {
    let mut timers = Timers::new();
    let (_, w) = waker();
    let ids: Vec<u64> = (0..10_000u64)
        .map(|i| timers.insert(60 * SECOND + i * 1_000, &w))
        .collect();
    assert!(timers.soon.is_empty(), "far timers went into the tree");
    assert!(lists(&timers) <= 2, "one list per slot, not per timer");
    for id in ids {
        timers.cancel(id);
    }
    assert!(timers.next_deadline().is_none(), "no timer, yet a deadline");
    assert!(
        timers.later.is_empty() && lists(&timers) <= 1,
        "more than the filling slot's list was kept"
    );
}

#[test]
fn cancelling_from_a_slot_keeps_the_others_findable() {
    let mut timers = Timers::new();
    let at = 10 * SECOND;
    let (first, w1) = waker();
    let (middle, w2) = waker();
    let (last, w3) = waker();
    let a = timers.insert(at, &w1);
    timers.insert(at + MS, &w2);
    let c = timers.insert(at + 2 * MS, &w3);
    timers.cancel(a); // the last entry moves into the first's place
    timers.cancel(c); // and is found there
    assert_eq!(fire(&mut timers, at + SLOT * 4), 1);
    let woken = |c: &Count| c.0.load(SeqCst);
    assert_eq!((woken(&first), woken(&middle), woken(&last)), (0, 1, 0));
}

#[test]
fn cancelling_from_a_slot_that_filing_left_keeps_the_others_findable() {
    let mut timers = Timers::new();
    let at = 10 * SECOND;
    let (first, w1) = waker();
    let (second, w2) = waker();
    let (third, w3) = waker();
    let a = timers.insert(at, &w1);
    timers.insert(at + MS, &w2);
    let c = timers.insert(at + 2 * MS, &w3);
    timers.insert(at + SLOT * 2, &w1); // filing moves on: the first slot is in `later`
    assert_eq!(timers.later.len(), 1);
    timers.cancel(a);
    timers.cancel(c);
    assert_eq!(fire(&mut timers, at + SLOT), 1);
    let woken = |c: &Count| c.0.load(SeqCst);
    assert_eq!((woken(&first), woken(&second), woken(&third)), (0, 1, 0));
    assert!(timers.later.is_empty(), "the opened slot stayed in `later`");
}

#[test]
fn a_stale_id_never_touches_the_slots_next_owner() {
    let mut timers = Timers::new();
    let (_, w) = waker();
    let soon = MS;
    let old = timers.insert(soon, &w);
    assert_eq!(fire(&mut timers, soon), 1);
    let (count, w2) = waker();
    let new = timers.insert(soon + MS, &w2);
    assert_eq!(old as u32, new as u32, "the entry is reused");
    timers.cancel(old);
    assert!(!timers.refresh(old, &w), "a fired timer was refreshed");
    assert_eq!(fire(&mut timers, soon + MS), 1);
    assert_eq!(count.0.load(SeqCst), 1, "a stale cancel took the new timer");
}

#[test]
fn the_filling_slots_empty_list_is_kept_until_filing_moves_on() {
    let mut timers = Timers::new();
    let (count, w) = waker();
    let at = 60 * SECOND;
    let id = timers.insert(at, &w);
    timers.cancel(id);
    assert_eq!(lists(&timers), 1, "the filling slot's list was dropped");
    assert_eq!(
        timers.next_deadline(),
        None,
        "an empty slot gives a deadline"
    );
    let id = timers.insert(at + MS, &w);
    assert_eq!(lists(&timers), 1, "the same slot took a second list");
    timers.cancel(id);
    let further = at + SLOT * 2;
    timers.insert(further, &w);
    assert_eq!(
        lists(&timers),
        1,
        "the empty list stayed after filing moved on"
    );
    assert!(timers.next_deadline().unwrap() <= further);
    assert_eq!(fire(&mut timers, further), 1);
    assert_eq!(count.0.load(SeqCst), 1);
    assert!(lists(&timers) == 0 && timers.next_deadline().is_none());
}

#[test]
fn a_timer_due_in_an_open_slot_is_exact_at_once() {
    let mut timers = Timers::new();
    let (_, w) = waker();
    let at = 5 * MS;
    timers.insert(at, &w);
    assert_eq!(timers.next_deadline(), Some(at));
    assert!(lists(&timers) == 0);
}

#[test]
fn a_rescheduled_timer_fires_at_its_new_deadline_only() {
    let mut timers = Timers::new();
    let (count, w) = waker();
    let (other, w2) = waker();
    let at = 60 * SECOND;
    let id = timers.insert(at, &w);
    let kept = timers.insert(at + MS, &w2);
    assert!(timers.reschedule(id, at + 2 * MS), "within its slot");
    assert_eq!(timers.next_deadline(), Some(start(slot(at))));
    assert!(timers.reschedule(id, at + SLOT * 8), "into a later slot");
    assert!(timers.reschedule(kept, 5 * MS), "into the open slot");
    assert_eq!(timers.next_deadline(), Some(5 * MS));
    assert_eq!(fire(&mut timers, at + SLOT), 1);
    assert_eq!((count.0.load(SeqCst), other.0.load(SeqCst)), (0, 1));
    assert!(!timers.reschedule(kept, at), "a fired timer was moved");
    assert!(
        timers.reschedule(id, at + SLOT * 2),
        "out of the tree, back"
    );
    assert_eq!(fire(&mut timers, at + SLOT * 2 - 1), 0);
    assert_eq!(fire(&mut timers, at + SLOT * 2), 1);
    assert_eq!(count.0.load(SeqCst), 1);
    assert_eq!(timers.next_deadline(), None);
}

#[test]
fn a_timer_due_never_is_filed_and_cancelled() {
    let mut timers = Timers::new();
    let (_, w) = waker();
    let id = timers.insert(u64::MAX, &w);
    assert!(timers
        .next_deadline()
        .is_some_and(|at| at > 500_000 * SECOND));
    assert_eq!(fire(&mut timers, 3600 * SECOND), 0);
    timers.cancel(id);
    assert_eq!(timers.next_deadline(), None);
}
