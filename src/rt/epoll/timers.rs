//! A reactor's timers: exact near the deadline, coarse far from it.
//!
//! Every keep-alive connection idles on a timer (`timeouts.idle`, 60 s by default), and
//! every proxied request files and cancels one or two more that almost never fire
//! (`timeouts.upstream_read`, the next idle wait). Kept in one ordered tree, each of those
//! was an insert and a removal in a tree as large as the number of open connections:
//! with 9,750 idle keep-alive connections beside the load, that tree was what every
//! request walked (bench/profiling.md, "Small responses beside an idle crowd").
//!
//! So a timer due later than the current [`SLOT`] goes into a coarse slot (one list per
//! `SLOT` of time, in a small ordered map of slots), where filing it is a push and
//! cancelling it a swap-remove, whatever the number of timers. Only when its slot's time
//! comes are its timers moved into the exact tree (`soon`), which then holds the timers
//! due within one `SLOT` only. Most timers are cancelled long before: they never reach
//! the tree. As nginx's and HAProxy's timers, this fires nothing early and nothing late:
//! each timer keeps its exact deadline, and the slot only says when to look at it. The
//! cost is a wake-up per occupied slot (at most 1 s / `SLOT` a second, 4 by default)
//! even when none of its timers is due yet.
//!
//! Timers live in a slab, so the reactor finds one by its id in O(1) (to refresh its
//! waker or cancel it). An id carries the slot's generation in its high half, as
//! socket keys do (`reactor`'s `Slab`): a timer that fired or was cancelled leaves its
//! id stale, and a late cancel through it never touches the slot's next owner.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// How coarse the far slots are: a timer due more than this far ahead costs no tree
/// insert, and the reactor wakes at most once per `SLOT` to move timers nearer.
const SLOT: Duration = Duration::from_nanos(NANOS_PER_SLOT as u64);
/// `SLOT`, as slots per second and nanoseconds (a slot number from a `Duration` in u64
/// and u32 arithmetic: the u128 division of `as_nanos` was most of filing a timer).
const SLOTS_PER_SECOND: u64 = 4;
const NANOS_PER_SLOT: u32 = 1_000_000_000 / SLOTS_PER_SECOND as u32;

/// Emptied slot lists kept for reuse, so filing a timer into a new slot does not
/// allocate (a warm request makes no allocation: tests/alloc_free.rs).
const SPARE_LISTS: usize = 64;

pub(crate) struct Timers {
    /// Where ticks count from: the reactor's creation.
    epoch: Instant,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Timers due within the slots already opened, exactly ordered.
    soon: BTreeMap<(Instant, u64), ()>,
    /// Timers due later, by slot number (`tick`); each list holds entry indices.
    later: BTreeMap<u64, Vec<u32>>,
    /// Every slot up to this one has been moved into `soon`.
    opened: u64,
    /// When the slot after `opened` starts: before then no slot can open, so a turn
    /// compares one `Instant` instead of working out its slot number.
    next_opening: Instant,
    /// The slot new timers went into last. Its list stays in `later` when its last
    /// timer is cancelled: the next timer most likely goes into it too (a request's
    /// timers share their slot with the previous request's), and removing and inserting
    /// it again in `later` was ~270 instructions a request. Removed once filing moves
    /// on to another slot (or when its slot opens), so at most one empty list waits in
    /// `later`, and `next_deadline` looks past it.
    filling: Option<u64>,
    spare: Vec<Vec<u32>>,
}

struct Entry {
    generation: u32,
    timer: Option<Filed>,
}

struct Filed {
    at: Instant,
    waker: Waker,
    place: Place,
}

#[derive(Clone, Copy)]
enum Place {
    Soon,
    /// In `later[tick]`, at this position.
    Later(u64, u32),
}

impl Timers {
    pub(crate) fn new(now: Instant) -> Timers {
        Timers {
            epoch: now,
            entries: Vec::new(),
            free: Vec::new(),
            soon: BTreeMap::new(),
            later: BTreeMap::new(),
            opened: 0,
            next_opening: now + SLOT,
            filling: None,
            spare: Vec::new(),
        }
    }

    /// Refreshes the waker of timer `id` if it is still filed (true), else does nothing.
    pub(crate) fn refresh(&mut self, id: u64, waker: &Waker) -> bool {
        match self.filed_mut(id) {
            Some(filed) => {
                if !filed.waker.will_wake(waker) {
                    filed.waker.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Files a timer due `at`; returns its id.
    pub(crate) fn insert(&mut self, at: Instant, waker: &Waker) -> u64 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    timer: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let id = (u64::from(self.entries[index as usize].generation) << 32) | u64::from(index);
        let place = self.place(at, index, id);
        self.entries[index as usize].timer = Some(Filed {
            at,
            waker: waker.clone(),
            place,
        });
        id
    }

    /// Takes timer `id` off the list; a stale id (fired, cancelled) is ignored.
    pub(crate) fn cancel(&mut self, id: u64) {
        if let Some(filed) = self.take(id) {
            match filed.place {
                Place::Soon => {
                    self.soon.remove(&(filed.at, id));
                }
                Place::Later(tick, pos) => self.unlist(tick, pos),
            }
        }
    }

    /// The earliest time a timer may be due: exact for `soon`, the start of the first
    /// occupied slot otherwise (`None`: no timer at all).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let soon = self.soon.first_key_value().map(|((at, _), _)| *at);
        // The first list may be the `filling` slot's, left empty: at most one is.
        let later = self
            .later
            .iter()
            .find(|(_, list)| !list.is_empty())
            .map(|(tick, _)| self.start(*tick));
        match (soon, later) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the wakers of every timer due by `now` into `wake`.
    pub(crate) fn fire(&mut self, now: Instant, wake: &mut Vec<Waker>) {
        self.open_until(now);
        while let Some(entry) = self.soon.first_entry() {
            let (at, id) = *entry.key();
            if at > now {
                break;
            }
            entry.remove();
            wake.extend(self.take(id).map(|filed| filed.waker));
        }
    }

    /// Opens every slot whose time has come: its timers move into `soon`.
    pub(crate) fn open_until(&mut self, now: Instant) {
        if now < self.next_opening {
            return;
        }
        let current = self.tick(now);
        while let Some(entry) = self.later.first_entry() {
            if *entry.key() > current {
                break;
            }
            let mut list = entry.remove();
            for index in list.drain(..) {
                let entry = &mut self.entries[index as usize];
                let id = (u64::from(entry.generation) << 32) | u64::from(index);
                if let Some(filed) = &mut entry.timer {
                    filed.place = Place::Soon;
                    self.soon.insert((filed.at, id), ());
                }
            }
            self.recycle(list);
        }
        self.opened = self.opened.max(current);
        self.next_opening = self.start(self.opened + 1);
    }

    /// Where a new timer goes: the exact tree if its slot is open, else its slot's list.
    fn place(&mut self, at: Instant, index: u32, id: u64) -> Place {
        let tick = self.tick(at);
        if tick <= self.opened {
            self.soon.insert((at, id), ());
            return Place::Soon;
        }
        if self.filling != Some(tick) {
            self.move_filling_to(tick);
        }
        let spare = &mut self.spare;
        let list = self
            .later
            .entry(tick)
            .or_insert_with(|| spare.pop().unwrap_or_default());
        list.push(index);
        Place::Later(tick, (list.len() - 1) as u32)
    }

    /// Removes the entry at `pos` of slot `tick`'s list; the list's last entry takes
    /// its place (and learns its new position).
    fn unlist(&mut self, tick: u64, pos: u32) {
        let Some(list) = self.later.get_mut(&tick) else {
            return;
        };
        list.swap_remove(pos as usize);
        match list.get(pos as usize) {
            Some(&moved) => {
                if let Some(filed) = &mut self.entries[moved as usize].timer {
                    filed.place = Place::Later(tick, pos);
                }
            }
            None if list.is_empty() && self.filling != Some(tick) => {
                if let Some(list) = self.later.remove(&tick) {
                    self.recycle(list);
                }
            }
            None => {}
        }
    }

    /// Notes `tick` as the slot being filled; the one before leaves `later` if its
    /// list was left empty.
    fn move_filling_to(&mut self, tick: u64) {
        if let Some(old) = self.filling.replace(tick) {
            if self.later.get(&old).is_some_and(Vec::is_empty) {
                if let Some(list) = self.later.remove(&old) {
                    self.recycle(list);
                }
            }
        }
    }

    /// Empties entry `id`'s slot, if `id` is current, and returns what it held.
    fn take(&mut self, id: u64) -> Option<Filed> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let entry = self.entries.get_mut(index as usize)?;
        if entry.generation != generation {
            return None;
        }
        let filed = entry.timer.take()?;
        entry.generation = entry.generation.wrapping_add(1) & 0x7fff_ffff;
        self.free.push(index);
        Some(filed)
    }

    fn filed_mut(&mut self, id: u64) -> Option<&mut Filed> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let entry = self.entries.get_mut(index as usize)?;
        match entry.generation == generation {
            true => entry.timer.as_mut(),
            false => None,
        }
    }

    fn recycle(&mut self, list: Vec<u32>) {
        if self.spare.len() < SPARE_LISTS {
            self.spare.push(list);
        }
    }

    /// The slot `at` falls in.
    fn tick(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        since.as_secs() * SLOTS_PER_SECOND + u64::from(since.subsec_nanos() / NANOS_PER_SLOT)
    }

    /// When slot `tick` opens.
    fn start(&self, tick: u64) -> Instant {
        let whole = Duration::from_secs(tick / SLOTS_PER_SECOND);
        self.epoch + whole + SLOT * (tick % SLOTS_PER_SECOND) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Wake;

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
    fn fire(timers: &mut Timers, now: Instant) -> usize {
        let mut wake = Vec::new();
        timers.fire(now, &mut wake);
        let n = wake.len();
        wake.into_iter().for_each(Waker::wake);
        n
    }

    #[test]
    fn a_far_timer_fires_at_its_exact_deadline_not_at_its_slot() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        let (count, w) = waker();
        let at = epoch + Duration::from_millis(60_123);
        timers.insert(at, &w);
        let next = timers.next_deadline().unwrap();
        assert!(next <= at, "the driver would sleep past the deadline");
        assert_eq!(fire(&mut timers, next), 0, "fired at its slot's start");
        assert_eq!(timers.next_deadline(), Some(at), "opened, it is exact");
        assert_eq!(fire(&mut timers, at - Duration::from_nanos(1)), 0);
        assert_eq!(fire(&mut timers, at), 1);
        assert_eq!(count.0.load(SeqCst), 1);
        assert_eq!(fire(&mut timers, at + SLOT * 8), 0, "fired twice");
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn thousands_of_far_timers_stay_out_of_the_ordered_tree() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        let (_, w) = waker();
        let ids: Vec<u64> = (0..10_000u64)
            .map(|i| {
                timers.insert(
                    epoch + Duration::from_secs(60) + Duration::from_micros(i),
                    &w,
                )
            })
            .collect();
        assert!(timers.soon.is_empty(), "far timers went into the tree");
        assert!(timers.later.len() <= 2, "one list per slot, not per timer");
        for id in ids {
            timers.cancel(id);
        }
        assert!(timers.next_deadline().is_none(), "no timer, yet a deadline");
        assert!(
            timers.later.values().all(Vec::is_empty) && timers.later.len() <= 1,
            "more than the filling slot's list was kept"
        );
    }

    #[test]
    fn cancelling_from_a_slot_keeps_the_others_findable() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        let at = epoch + Duration::from_secs(10);
        let (first, w1) = waker();
        let (middle, w2) = waker();
        let (last, w3) = waker();
        let a = timers.insert(at, &w1);
        timers.insert(at + Duration::from_millis(1), &w2);
        let c = timers.insert(at + Duration::from_millis(2), &w3);
        timers.cancel(a); // the last entry moves into the first's place
        timers.cancel(c); // and is found there
        assert_eq!(fire(&mut timers, at + SLOT * 4), 1);
        let woken = |c: &Count| c.0.load(SeqCst);
        assert_eq!((woken(&first), woken(&middle), woken(&last)), (0, 1, 0));
    }

    #[test]
    fn a_stale_id_never_touches_the_slots_next_owner() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        let (_, w) = waker();
        let soon = epoch + Duration::from_millis(1);
        let old = timers.insert(soon, &w);
        assert_eq!(fire(&mut timers, soon), 1);
        let (count, w2) = waker();
        let new = timers.insert(soon + Duration::from_millis(1), &w2);
        assert_eq!(old as u32, new as u32, "the entry is reused");
        timers.cancel(old);
        assert!(!timers.refresh(old, &w), "a fired timer was refreshed");
        assert_eq!(fire(&mut timers, soon + Duration::from_millis(1)), 1);
        assert_eq!(count.0.load(SeqCst), 1, "a stale cancel took the new timer");
    }

    #[test]
    fn the_filling_slots_empty_list_is_kept_until_filing_moves_on() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        let (count, w) = waker();
        let at = epoch + Duration::from_secs(60);
        let id = timers.insert(at, &w);
        timers.cancel(id);
        assert_eq!(timers.later.len(), 1, "the filling slot's list was dropped");
        assert_eq!(
            timers.next_deadline(),
            None,
            "an empty slot gives a deadline"
        );
        let id = timers.insert(at + Duration::from_millis(1), &w);
        assert_eq!(timers.later.len(), 1, "the same slot took a second list");
        timers.cancel(id);
        let further = at + SLOT * 2;
        timers.insert(further, &w);
        assert_eq!(
            timers.later.len(),
            1,
            "the empty list stayed after filing moved on"
        );
        assert!(timers.next_deadline().unwrap() <= further);
        assert_eq!(fire(&mut timers, further), 1);
        assert_eq!(count.0.load(SeqCst), 1);
        assert!(timers.later.is_empty() && timers.next_deadline().is_none());
    }

    #[test]
    fn a_timer_due_in_an_open_slot_is_exact_at_once() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        let (_, w) = waker();
        let at = epoch + Duration::from_millis(5);
        timers.insert(at, &w);
        assert_eq!(timers.next_deadline(), Some(at));
        assert!(timers.later.is_empty());
    }
}
