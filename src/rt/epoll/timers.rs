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

/// How coarse the far slots are, in ticks (nanoseconds, `clock::ticks`): a timer due
/// more than this far ahead costs no tree insert, and the reactor wakes at most once per
/// `SLOT` to move timers nearer.
const SLOT: u64 = 250_000_000;

/// Emptied slot lists kept for reuse, so filing a timer into a new slot does not
/// allocate (a warm request makes no allocation: tests/alloc_free.rs).
const SPARE_LISTS: usize = 64;

/// An entry's `pos` while it is in `soon`.
const SOON: u32 = u32::MAX;

pub(crate) struct Timers {
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Timers due within the slots already opened, exactly ordered: (deadline, id).
    soon: BTreeMap<(u64, u64), ()>,
    /// Timers due later, by slot number (`slot`), but for the `filling` slot's; each
    /// list holds entry indices, and none is empty.
    later: BTreeMap<u64, Vec<u32>>,
    /// The slot new timers went into last, and its list, kept out of `later`: a
    /// request's timers share their slot with the previous request's, so filing and
    /// cancelling them touch this list without a `BTreeMap` lookup, and the list stays
    /// when its last timer is cancelled (removing and inserting it again in `later` was
    /// ~270 instructions a request). It goes into `later` when filing moves on to
    /// another slot (if not empty), or into `soon` when its slot opens.
    filling: Option<(u64, Vec<u32>)>,
    /// Every slot up to this one has been moved into `soon`.
    opened: u64,
    /// When the slot after `opened` starts: before then no slot can open, so a turn
    /// compares one number instead of working out its slot.
    next_opening: u64,
    spare: Vec<Vec<u32>>,
}

/// A timer's slab slot: 32 bytes (it was 56 with an `Instant` and an enum of its place),
/// and the slab has a slot for each timer filed at once, two or so a connection
/// (bench/profiling.md, "Idle connections, round seven").
struct Entry {
    generation: u32,
    /// Where it is filed: `SOON`, or its position in its slot's list (the slot is its
    /// deadline's, so it need not be kept).
    pos: u32,
    /// Its deadline, in ticks.
    at: u64,
    /// `None` while the slot is free.
    waker: Option<Waker>,
}

/// What a cancelled or fired timer held.
struct Taken {
    at: u64,
    pos: u32,
    waker: Waker,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            entries: Vec::new(),
            free: Vec::new(),
            soon: BTreeMap::new(),
            later: BTreeMap::new(),
            filling: None,
            opened: 0,
            next_opening: SLOT,
            spare: Vec::new(),
        }
    }

    /// Refreshes the waker of timer `id` if it is still filed (true), else does nothing.
    pub(crate) fn refresh(&mut self, id: u64, waker: &Waker) -> bool {
        match self.filed_mut(id) {
            Some(filed) => {
                if !filed.will_wake(waker) {
                    filed.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Files a timer due at `at` (ticks); returns its id.
    pub(crate) fn insert(&mut self, at: u64, waker: &Waker) -> u64 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                crate::slot_growth::reserve_one(&mut self.entries);
                self.entries.push(Entry {
                    generation: 0,
                    pos: SOON,
                    at: 0,
                    waker: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let id = (u64::from(self.entries[index as usize].generation) << 32) | u64::from(index);
        let pos = self.place(at, index, id);
        let entry = &mut self.entries[index as usize];
        (entry.pos, entry.at) = (pos, at);
        entry.waker = Some(waker.clone());
        id
    }

    /// Makes timer `id` due at `at` (ticks) instead; false (and nothing done) if `id`
    /// is stale. A timer whose slot stays the same only has its deadline written: a
    /// connection's idle timer, moved a few milliseconds on by each request.
    pub(crate) fn reschedule(&mut self, id: u64, at: u64) -> bool {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let Some(entry) = self.entries.get_mut(index as usize) else {
            return false;
        };
        if entry.generation != generation || entry.waker.is_none() {
            return false;
        }
        let (was, pos) = (entry.at, entry.pos);
        if pos != SOON && slot(was) == slot(at) {
            entry.at = at;
            return true;
        }
        match pos {
            SOON => {
                self.soon.remove(&(was, id));
            }
            pos => self.unlist(slot(was), pos),
        }
        let pos = self.place(at, index, id);
        let entry = &mut self.entries[index as usize];
        (entry.pos, entry.at) = (pos, at);
        true
    }

    /// Takes timer `id` off the list; a stale id (fired, cancelled) is ignored.
    pub(crate) fn cancel(&mut self, id: u64) {
        if let Some(taken) = self.take(id) {
            match taken.pos {
                SOON => {
                    self.soon.remove(&(taken.at, id));
                }
                pos => self.unlist(slot(taken.at), pos),
            }
        }
    }

    /// The earliest time (ticks) a timer may be due: exact for `soon`, the start of the
    /// first occupied slot otherwise (`None`: no timer at all).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let soon = self.soon.first_key_value().map(|((at, _), _)| *at);
        let later = self.later.first_key_value().map(|(slot, _)| *slot);
        let filling = match &self.filling {
            Some((slot, list)) if !list.is_empty() => Some(*slot),
            _ => None,
        };
        let first_slot = match (later, filling) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let later = first_slot.map(start);
        match (soon, later) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the wakers of every timer due by `now` (ticks) into `wake`.
    pub(crate) fn fire(&mut self, now: u64, wake: &mut Vec<Waker>) {
        self.open_until(now);
        while let Some(entry) = self.soon.first_entry() {
            let (at, id) = *entry.key();
            if at > now {
                break;
            }
            entry.remove();
            wake.extend(self.take(id).map(|taken| taken.waker));
        }
    }

    /// Opens every slot whose time has come: its timers move into `soon`.
    pub(crate) fn open_until(&mut self, now: u64) {
        if now < self.next_opening {
            return;
        }
        let current = slot(now);
        while let Some(entry) = self.later.first_entry() {
            if *entry.key() > current {
                break;
            }
            let list = entry.remove();
            self.open(list);
        }
        if let Some((_, list)) = self.filling.take_if(|(slot, _)| *slot <= current) {
            self.open(list);
        }
        self.opened = self.opened.max(current);
        self.next_opening = start(self.opened + 1);
    }

    /// Moves the timers of an opened slot's list into `soon`.
    fn open(&mut self, mut list: Vec<u32>) {
        for index in list.drain(..) {
            let entry = &mut self.entries[index as usize];
            let id = (u64::from(entry.generation) << 32) | u64::from(index);
            if entry.waker.is_some() {
                entry.pos = SOON;
                self.soon.insert((entry.at, id), ());
            }
        }
        self.recycle(list);
    }

    /// Where a new timer goes: the exact tree if its slot is open (`SOON`), else its
    /// slot's list, at the position returned.
    fn place(&mut self, at: u64, index: u32, id: u64) -> u32 {
        let slot = slot(at);
        if slot <= self.opened {
            self.soon.insert((at, id), ());
            return SOON;
        }
        if !matches!(&self.filling, Some((filling, _)) if *filling == slot) {
            self.move_filling_to(slot);
        }
        let Some((_, list)) = &mut self.filling else {
            return SOON; // not reached: made the filling slot just above
        };
        list.push(index);
        (list.len() - 1) as u32
    }

    /// Removes the entry at `pos` of slot `slot`'s list; the list's last entry takes
    /// its place (and learns its new position).
    fn unlist(&mut self, slot: u64, pos: u32) {
        let (list, filling) = match &mut self.filling {
            Some((filling, list)) if *filling == slot => (list, true),
            _ => match self.later.get_mut(&slot) {
                Some(list) => (list, false),
                None => return,
            },
        };
        list.swap_remove(pos as usize);
        match list.get(pos as usize) {
            Some(&moved) => self.entries[moved as usize].pos = pos,
            None if list.is_empty() && !filling => {
                if let Some(list) = self.later.remove(&slot) {
                    self.recycle(list);
                }
            }
            None => {}
        }
    }

    /// Makes `slot` the one being filled; the one before goes into `later`, or back to
    /// the spares if empty.
    fn move_filling_to(&mut self, slot: u64) {
        let list = match self.later.remove(&slot) {
            Some(list) => list,
            None => self.spare.pop().unwrap_or_default(),
        };
        if let Some((old, list)) = self.filling.replace((slot, list)) {
            match list.is_empty() {
                true => self.recycle(list),
                false => {
                    self.later.insert(old, list);
                }
            }
        }
    }

    /// Empties entry `id`'s slot, if `id` is current, and returns what it held.
    fn take(&mut self, id: u64) -> Option<Taken> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let entry = self.entries.get_mut(index as usize)?;
        if entry.generation != generation {
            return None;
        }
        let waker = entry.waker.take()?;
        entry.generation = entry.generation.wrapping_add(1) & 0x7fff_ffff;
        self.free.push(index);
        Some(Taken {
            at: entry.at,
            pos: entry.pos,
            waker,
        })
    }

    fn filed_mut(&mut self, id: u64) -> Option<&mut Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let entry = self.entries.get_mut(index as usize)?;
        match entry.generation == generation {
            true => entry.waker.as_mut(),
            false => None,
        }
    }

    fn recycle(&mut self, list: Vec<u32>) {
        if self.spare.len() < SPARE_LISTS {
            self.spare.push(list);
        }
    }
}

/// The slot `at` (ticks) falls in.
fn slot(at: u64) -> u64 {
    at / SLOT
}

/// When slot `slot` opens (ticks).
fn start(slot: u64) -> u64 {
    slot.saturating_mul(SLOT)
}

#[cfg(test)]
mod tests;
