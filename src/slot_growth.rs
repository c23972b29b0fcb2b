//! Slot tables that grow by a quarter, not by doubling.
//!
//! A few tables are indexed by slot and hold one entry for each connection (the
//! reactor's sockets, the executor's tasks, the timers, admission's idle list). A `Vec`
//! that doubles leaves up to half of such a table spare: at 5,000 idle connections
//! each sat at 8,192 slots, 39% of ~1 MiB spare, about 80 bytes a connection
//! (bench/profiling.md, "Idle connections, round seven"). Grown by a quarter of its
//! length when full, a table is at most a fifth spare, and pushing stays amortised
//! O(1): each entry is copied about four times over the table's growth (twice when
//! doubling), and only while the table reaches a new high; a table that has grown is
//! not grown again by the same number of connections.

/// The least a table grows by, so small tables do not reallocate every few entries.
const MIN_STEP: usize = 64;

/// How many slots a full table of `len` grows by: a quarter of it, at least
/// [`MIN_STEP`].
pub(crate) fn step(len: usize) -> usize {
    (len / 4).max(MIN_STEP)
}

/// Makes room for one more entry in `slots`, growing it by [`step`] if it is full. Call
/// it before a `push` that adds a slot.
#[inline]
pub(crate) fn reserve_one<T>(slots: &mut Vec<T>) {
    if slots.len() == slots.capacity() {
        grow(slots);
    }
}

#[cold]
#[inline(never)]
fn grow<T>(slots: &mut Vec<T>) {
    slots.reserve_exact(step(slots.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_grows_by_a_quarter_of_its_length_or_the_minimum() {
        let mut slots: Vec<u64> = Vec::new();
        reserve_one(&mut slots);
        assert_eq!(slots.capacity(), MIN_STEP);
        slots.extend(0..MIN_STEP as u64);
        reserve_one(&mut slots);
        assert_eq!(slots.capacity(), 2 * MIN_STEP);
        let mut slots: Vec<u64> = Vec::with_capacity(4000);
        slots.extend(0..4000);
        reserve_one(&mut slots);
        assert_eq!(slots.capacity(), 5000);
    }

    #[test]
    fn a_table_with_room_is_left_alone() {
        let mut slots: Vec<u64> = Vec::with_capacity(100);
        slots.push(1);
        reserve_one(&mut slots);
        assert_eq!(slots.capacity(), 100);
    }

    #[test]
    fn five_thousand_pushes_leave_at_most_a_fifth_of_the_table_spare() {
        let mut slots: Vec<u32> = Vec::new();
        for i in 0..5000 {
            reserve_one(&mut slots);
            slots.push(i);
        }
        assert!(
            slots.capacity() * 4 <= slots.len() * 5,
            "{}",
            slots.capacity()
        );
    }
}
