//! The random bits behind `random` and `p2c`: wyrand, a 64-bit generator of one add and
//! one multiply per number.
//!
//! Load spreading needs fast, well-mixed numbers, not secrets, so a `rand` dependency
//! would buy nothing. Production pickers share nothing: each thread has its own state,
//! seeded once from std's random hash keys ([`RandomState`], drawn from the OS), so
//! picks on different threads never contend on a lock. Tests build a seeded source instead and
//! assert exact sequences.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// A source of random numbers: the calling thread's own, or a fixed seed (for tests).
#[derive(Debug, Default)]
pub(super) enum Rng {
    /// Per-thread state seeded from std's random keys.
    #[default]
    Thread,
    /// One shared, seeded state: the same seed gives the same numbers.
    Seeded(Mutex<u64>),
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0x5eed_u64));
}

impl Rng {
    pub(super) fn seeded(seed: u64) -> Self {
        Rng::Seeded(Mutex::new(seed))
    }

    /// A uniform number in `0..n`; `n` must be at least 1.
    pub(super) fn below(&self, n: u64) -> u64 {
        let x = match self {
            Rng::Thread => STATE.with(|s| {
                let mut state = s.get();
                let x = wyrand(&mut state);
                s.set(state);
                x
            }),
            Rng::Seeded(state) => wyrand(&mut state.lock().unwrap_or_else(|p| p.into_inner())),
        };
        // The high half of x * n: uniform enough for n far below 2^64 (bias < n / 2^64).
        ((u128::from(x) * u128::from(n)) >> 64) as u64
    }
}

/// One wyrand step.
fn wyrand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*state) * u128::from(*state ^ 0xe703_7ed1_a0b4_28db);
    (t >> 64) as u64 ^ t as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers() {
        let (a, b) = (Rng::seeded(7), Rng::seeded(7));
        let xs: Vec<u64> = (0..5).map(|_| a.below(100)).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.below(100)).collect();
        assert_eq!(xs, ys);
        assert_eq!(xs, [88, 85, 38, 24, 75]);
    }

    #[test]
    fn numbers_stay_below_and_cover_the_range() {
        // Bounds of about ten standard deviations: the thread source is not seeded.
        for rng in [Rng::Thread, Rng::seeded(1)] {
            let mut seen = [0u32; 10];
            for _ in 0..10_000 {
                seen[rng.below(10) as usize] += 1;
            }
            assert!(seen.iter().all(|&c| (700..1300).contains(&c)), "{seen:?}");
        }
    }
}
