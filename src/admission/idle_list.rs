//! The idle connections that may be asked to give up their seat, longest-idle first.
//!
//! A keep-alive connection joins this list each time it goes idle and leaves it when its
//! next request arrives: an entry made and taken per request. In an ordered map keyed by
//! a growing id that was three walks of a tree as large as the number of idle
//! connections (join, the wait's poll, leave), under the limit's lock, on every request;
//! with 9,750 idle connections beside the load it was part of what each request paid
//! (bench/profiling.md, "Small responses beside an idle crowd"). Here an entry lives in
//! a slab slot, found by its id in O(1), and the order of joining is a queue of ids. A
//! leaving entry only frees its slot; its id stays in the queue until an ask pops it
//! (and skips it) or the queue is swept, once stale ids outnumber the listed ones, so
//! every operation costs O(1), amortized.
//!
//! An id carries its slot's generation in the high half, as the reactor's keys do: a
//! stale id never reaches the slot's next owner.

use std::collections::VecDeque;
use std::task::Waker;

#[derive(Default)]
pub(super) struct IdleList {
    /// Each slot's generation and, while listed, the waker of its connection's wait.
    slots: Vec<(u32, Option<Waker>)>,
    free: Vec<u32>,
    /// Ids in the order they joined; some are stale (their entry has left).
    order: VecDeque<u64>,
    listed: usize,
}

impl IdleList {
    /// Lists a connection (with a waker that does nothing until its wait's first poll);
    /// returns its id.
    pub(super) fn join(&mut self) -> u64 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push((0, None));
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(Waker::noop().clone());
        let id = (u64::from(slot.0) << 32) | u64::from(index);
        self.order.push_back(id);
        self.listed += 1;
        self.sweep();
        id
    }

    /// The waker of listed entry `id`; `None` once it has left or been asked.
    pub(super) fn waker_mut(&mut self, id: u64) -> Option<&mut Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        match self.slots.get_mut(index as usize) {
            Some((g, waker)) if *g == generation => waker.as_mut(),
            _ => None,
        }
    }

    /// Takes entry `id` off the list; false if it was not on it (asked already).
    pub(super) fn leave(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    /// Takes the longest-idle entry off the list and returns its waker.
    pub(super) fn pop_oldest(&mut self) -> Option<Waker> {
        while let Some(id) = self.order.pop_front() {
            if let Some(waker) = self.take(id) {
                return Some(waker);
            }
        }
        None
    }

    fn take(&mut self, id: u64) -> Option<Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.0 != generation {
            return None;
        }
        let waker = slot.1.take()?;
        slot.0 = slot.0.wrapping_add(1);
        self.free.push(index);
        self.listed -= 1;
        Some(waker)
    }

    /// Drops the stale ids once they outnumber the listed ones (so the queue stays
    /// within about twice the list, and each id is looked at O(1) times).
    fn sweep(&mut self) {
        if self.order.len() <= 2 * self.listed + 64 {
            return;
        }
        let slots = &self.slots;
        self.order.retain(|&id| {
            let (generation, index) = ((id >> 32) as u32, id as u32);
            matches!(slots.get(index as usize), Some((g, Some(_))) if *g == generation)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_is_asked_first_and_leavers_are_skipped() {
        let mut list = IdleList::default();
        let ids: Vec<u64> = (0..4).map(|_| list.join()).collect();
        assert!(list.leave(ids[0]));
        assert!(list.pop_oldest().is_some(), "the second was not asked");
        assert!(!list.leave(ids[1]), "an asked entry was still listed");
        assert!(list.waker_mut(ids[1]).is_none());
        assert!(list.waker_mut(ids[2]).is_some());
        assert!(list.pop_oldest().is_some());
        assert!(list.pop_oldest().is_some());
        assert!(list.pop_oldest().is_none());
    }

    #[test]
    fn a_stale_id_never_reaches_the_slots_next_owner() {
        let mut list = IdleList::default();
        let old = list.join();
        assert!(list.leave(old));
        let new = list.join();
        assert_eq!(old as u32, new as u32, "the slot is reused");
        assert!(!list.leave(old) && list.waker_mut(old).is_none());
        assert!(list.waker_mut(new).is_some());
        assert!(
            list.pop_oldest().is_some(),
            "the stale id hid the new entry"
        );
    }

    #[test]
    fn joining_and_leaving_forever_keeps_the_queue_bounded() {
        let mut list = IdleList::default();
        let crowd: Vec<u64> = (0..1000).map(|_| list.join()).collect();
        for _ in 0..100_000 {
            let id = list.join();
            assert!(list.leave(id));
        }
        assert!(
            list.order.len() <= 2 * 1000 + 64 + 1,
            "{} ids queued",
            list.order.len()
        );
        assert!(list.pop_oldest().is_some());
        assert!(
            !list.leave(crowd[0]),
            "the longest-idle was not the one asked"
        );
        assert!(list.leave(crowd[1]));
    }
}
