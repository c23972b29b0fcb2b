//! The idle connections that may be asked to give up their seat, longest-idle first.
//!
//! A keep-alive connection joins this list each time it goes idle and leaves it when its
//! next request arrives: an entry made and taken per request. In an ordered map keyed by
//! a growing id that was three walks of a tree as large as the number of idle
//! connections (join, the wait's poll, leave), under the limit's lock, on every request;
//! with 9,750 idle keep-alive connections beside the load it was part of what each
//! request paid (bench/profiling.md, "Small responses beside an idle crowd").
//!
//! Here an entry lives in a slab slot, found by its id in O(1), and the order of joining
//! is a doubly linked list through the slots: joining links at the tail, leaving unlinks,
//! an ask takes the head. Every operation is O(1) in the worst case, not only amortized:
//! a queue of ids whose leavers stayed in it until a sweep (the previous form) made one
//! request in ~10,000 walk 20,000 ids under the limit's lock when 9,750 idled beside the
//! load, 430,000 instructions at once, and regrow the queue as it passed each power of
//! two (bench/profiling.md, "The crowd's tail, round two").
//!
//! An id carries its slot's generation in the high half, as the reactor's keys do: a
//! stale id never reaches the slot's next owner.

use std::task::Waker;

/// No slot: the end of the list.
const NIL: u32 = u32::MAX;

pub(super) struct IdleList {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The longest-idle listed entry, and the newest.
    head: u32,
    tail: u32,
}

struct Slot {
    generation: u32,
    /// Its neighbours in joining order while listed.
    prev: u32,
    next: u32,
    /// While listed, the waker of its connection's wait.
    waker: Option<Waker>,
}

impl Default for IdleList {
    fn default() -> Self {
        IdleList {
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl IdleList {
    /// Lists a connection (with a waker that does nothing until its wait's first poll);
    /// returns its id.
    pub(super) fn join(&mut self) -> u64 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                prev: NIL,
                next: NIL,
                waker: None,
            });
            (self.slots.len() - 1) as u32
        });
        let tail = self.tail;
        let slot = &mut self.slots[index as usize];
        slot.waker = Some(Waker::noop().clone());
        (slot.prev, slot.next) = (tail, NIL);
        let id = (u64::from(slot.generation) << 32) | u64::from(index);
        match tail {
            NIL => self.head = index,
            t => self.slots[t as usize].next = index,
        }
        self.tail = index;
        id
    }

    /// The waker of listed entry `id`; `None` once it has left or been asked.
    pub(super) fn waker_mut(&mut self, id: u64) -> Option<&mut Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        match self.slots.get_mut(index as usize) {
            Some(slot) if slot.generation == generation => slot.waker.as_mut(),
            _ => None,
        }
    }

    /// Takes entry `id` off the list; false if it was not on it (asked already).
    pub(super) fn leave(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    /// Wakes every listed entry's wait, leaving them listed (a drain began).
    pub(super) fn wake_all(&self) {
        let mut at = self.head;
        while let Some(slot) = self.slots.get(at as usize) {
            if let Some(waker) = &slot.waker {
                waker.wake_by_ref();
            }
            at = slot.next;
        }
    }

    /// Takes the longest-idle entry off the list and returns its waker.
    pub(super) fn pop_oldest(&mut self) -> Option<Waker> {
        let slot = self.slots.get(self.head as usize)?;
        let id = (u64::from(slot.generation) << 32) | u64::from(self.head);
        self.take(id)
    }

    fn take(&mut self, id: u64) -> Option<Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let waker = slot.waker.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        let (prev, next) = (slot.prev, slot.next);
        self.unlink(prev, next);
        self.free.push(index);
        Some(waker)
    }

    /// Joins an entry's neighbours `prev` and `next` to each other.
    fn unlink(&mut self, prev: u32, next: u32) {
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
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
    fn waking_all_leaves_every_entry_listed_in_order() {
        let mut list = IdleList::default();
        let ids: Vec<u64> = (0..3).map(|_| list.join()).collect();
        assert!(list.leave(ids[1]));
        list.wake_all();
        assert!(list.waker_mut(ids[0]).is_some() && list.waker_mut(ids[2]).is_some());
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[0]).is_none());
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
    fn leaving_from_the_middle_keeps_the_order_of_the_rest() {
        let mut list = IdleList::default();
        let ids: Vec<u64> = (0..5).map(|_| list.join()).collect();
        assert!(list.leave(ids[2]) && list.leave(ids[4]) && list.leave(ids[0]));
        let late = list.join();
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[1]).is_none());
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[3]).is_none());
        assert!(
            list.waker_mut(late).is_some(),
            "the newest went before its turn"
        );
        assert!(list.pop_oldest().is_some() && list.pop_oldest().is_none());
        assert!(list.join() > 0, "the list is usable once emptied");
    }

    /// The crowd beside the load: 1,000 entries that stay, and 100,000 that join and
    /// leave. Nothing accumulates (the old queue of ids grew to twice the crowd, then
    /// was swept in one go), and the crowd keeps its place at the head.
    #[test]
    fn joining_and_leaving_beside_a_crowd_keeps_nothing_and_its_order() {
        let mut list = IdleList::default();
        let crowd: Vec<u64> = (0..1000).map(|_| list.join()).collect();
        for _ in 0..100_000 {
            let id = list.join();
            assert!(list.leave(id));
        }
        assert_eq!(list.slots.len(), 1001, "a slot per entry listed at once");
        assert_eq!(list.free.len(), 1);
        assert!(list.pop_oldest().is_some());
        assert!(
            !list.leave(crowd[0]),
            "the longest-idle was not the one asked"
        );
        assert!(list.leave(crowd[1]));
    }
}
