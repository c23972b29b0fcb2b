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
//!
//! A slot is 24 bytes, the waker and one word for the two links and the generation
//! (20, 20 and 24 bits): with the three as `u32`s it was 32, and the slab has a slot
//! for each connection listed at once (bench/profiling.md, "Idle connections, round
//! seven"). So the list holds at most `NIL` (1,048,575) entries at once, the default
//! `fs.nr_open` (sockets beyond it need a raised limit and ~1 GiB of idle connections);
//! a connection that finds it full is not listed, as when a seat is owed (`Seat::listed`).
//! A stale id would meet its slot's next owner only if the slot had been reused a
//! multiple of 2^24 times in between (the reactor's keys: 2^31).

use std::task::Waker;

/// No slot: the end of the list; also the most slots there can be.
const NIL: u32 = (1 << LINK_BITS) - 1;
/// Bits of a link (a slot index).
const LINK_BITS: u32 = 20;
/// Generations wrap at this mask.
const GENERATION: u32 = (1 << (64 - 2 * LINK_BITS)) - 1;

pub(super) struct IdleList {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The longest-idle listed entry, and the newest.
    head: u32,
    tail: u32,
}

struct Slot {
    /// Its neighbours in joining order while listed (`prev`, `next`) and its
    /// generation, packed (module docs).
    links: Links,
    /// While listed, the waker of its connection's wait.
    waker: Option<Waker>,
}

/// `prev` in bits 0..20, `next` in 20..40, the generation in 40..64.
#[derive(Clone, Copy)]
struct Links(u64);

impl Links {
    fn prev(self) -> u32 {
        (self.0 as u32) & NIL
    }

    fn next(self) -> u32 {
        ((self.0 >> LINK_BITS) as u32) & NIL
    }

    fn generation(self) -> u32 {
        (self.0 >> (2 * LINK_BITS)) as u32
    }

    fn new(prev: u32, next: u32, generation: u32) -> Links {
        let (prev, next) = (u64::from(prev), u64::from(next));
        Links(prev | next << LINK_BITS | u64::from(generation) << (2 * LINK_BITS))
    }

    fn with_prev(self, prev: u32) -> Links {
        Links::new(prev, self.next(), self.generation())
    }

    fn with_next(self, next: u32) -> Links {
        Links::new(self.prev(), next, self.generation())
    }
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
    /// returns its id, or `None` when `NIL` entries are listed already.
    pub(super) fn join(&mut self) -> Option<u64> {
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < NIL as usize => {
                crate::slot_growth::reserve_one(&mut self.slots);
                self.slots.push(Slot {
                    links: Links::new(NIL, NIL, 0),
                    waker: None,
                });
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let tail = self.tail;
        let slot = &mut self.slots[index as usize];
        slot.waker = Some(Waker::noop().clone());
        let generation = slot.links.generation();
        slot.links = Links::new(tail, NIL, generation);
        match tail {
            NIL => self.head = index,
            t => self.set_next(t, index),
        }
        self.tail = index;
        Some((u64::from(generation) << 32) | u64::from(index))
    }

    /// The waker of listed entry `id`; `None` once it has left or been asked.
    pub(super) fn waker_mut(&mut self, id: u64) -> Option<&mut Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        match self.slots.get_mut(index as usize) {
            Some(slot) if slot.links.generation() == generation => slot.waker.as_mut(),
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
            at = slot.links.next();
        }
    }

    /// Takes the longest-idle entry off the list and returns its waker.
    pub(super) fn pop_oldest(&mut self) -> Option<Waker> {
        let slot = self.slots.get(self.head as usize)?;
        let id = (u64::from(slot.links.generation()) << 32) | u64::from(self.head);
        self.take(id)
    }

    fn take(&mut self, id: u64) -> Option<Waker> {
        let (generation, index) = ((id >> 32) as u32, id as u32);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.links.generation() != generation {
            return None;
        }
        let waker = slot.waker.take()?;
        let (prev, next) = (slot.links.prev(), slot.links.next());
        slot.links = Links::new(NIL, NIL, generation.wrapping_add(1) & GENERATION);
        self.unlink(prev, next);
        self.free.push(index);
        Some(waker)
    }

    /// Joins an entry's neighbours `prev` and `next` to each other.
    fn unlink(&mut self, prev: u32, next: u32) {
        match prev {
            NIL => self.head = next,
            p => self.set_next(p, next),
        }
        match next {
            NIL => self.tail = prev,
            n => {
                let slot = &mut self.slots[n as usize];
                slot.links = slot.links.with_prev(prev);
            }
        }
    }

    fn set_next(&mut self, index: u32, next: u32) {
        let slot = &mut self.slots[index as usize];
        slot.links = slot.links.with_next(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_24_bytes() {
        assert_eq!(size_of::<Slot>(), 24);
    }

    #[test]
    fn links_and_generations_pack_and_wrap_within_their_bits() {
        let links = Links::new(NIL - 1, 7, GENERATION);
        assert_eq!(
            (links.prev(), links.next(), links.generation()),
            (NIL - 1, 7, GENERATION)
        );
        let moved = links.with_next(NIL).with_prev(0);
        assert_eq!(
            (moved.prev(), moved.next(), moved.generation()),
            (0, NIL, GENERATION)
        );
        let mut list = IdleList::default();
        list.slots.push(Slot {
            links: Links::new(NIL, NIL, GENERATION),
            waker: None,
        });
        list.free.push(0);
        let old = list.join().unwrap();
        assert!(list.leave(old));
        let new = list.join().unwrap();
        assert_eq!(new >> 32, 0, "the generation did not wrap to 0");
        assert!(!list.leave(old) && list.leave(new));
    }

    #[test]
    fn a_full_list_refuses_to_list_and_takes_entries_again_once_one_leaves() {
        let mut list = IdleList::default();
        let ids: Vec<u64> = (0..NIL).map(|_| list.join().unwrap()).collect();
        assert!(list.join().is_none(), "listed past the link's range");
        assert!(list.leave(ids[1000]));
        let again = list.join().unwrap();
        assert_eq!(again as u32, 1000);
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[0]).is_none());
        assert!(list.waker_mut(again).is_some());
    }

    #[test]
    fn the_longest_idle_is_asked_first_and_leavers_are_skipped() {
        let mut list = IdleList::default();
        let ids: Vec<u64> = (0..4).map(|_| list.join().unwrap()).collect();
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
        let ids: Vec<u64> = (0..3).map(|_| list.join().unwrap()).collect();
        assert!(list.leave(ids[1]));
        list.wake_all();
        assert!(list.waker_mut(ids[0]).is_some() && list.waker_mut(ids[2]).is_some());
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[0]).is_none());
    }

    #[test]
    fn a_stale_id_never_reaches_the_slots_next_owner() {
        let mut list = IdleList::default();
        let old = list.join().unwrap();
        assert!(list.leave(old));
        let new = list.join().unwrap();
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
        let ids: Vec<u64> = (0..5).map(|_| list.join().unwrap()).collect();
        assert!(list.leave(ids[2]) && list.leave(ids[4]) && list.leave(ids[0]));
        let late = list.join().unwrap();
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[1]).is_none());
        assert!(list.pop_oldest().is_some() && list.waker_mut(ids[3]).is_none());
        assert!(
            list.waker_mut(late).is_some(),
            "the newest went before its turn"
        );
        assert!(list.pop_oldest().is_some() && list.pop_oldest().is_none());
        assert!(list.join().unwrap() > 0, "the list is usable once emptied");
    }

    /// The crowd beside the load: 1,000 entries that stay, and 100,000 that join and
    /// leave. Nothing accumulates (the old queue of ids grew to twice the crowd, then
    /// was swept in one go), and the crowd keeps its place at the head.
    #[test]
    fn joining_and_leaving_beside_a_crowd_keeps_nothing_and_its_order() {
        let mut list = IdleList::default();
        let crowd: Vec<u64> = (0..1000).map(|_| list.join().unwrap()).collect();
        for _ in 0..100_000 {
            let id = list.join().unwrap();
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
