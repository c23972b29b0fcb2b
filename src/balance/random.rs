//! Weighted random: each eligible server is taken with probability weight / total.
//!
//! Random needs no shared state between pickers, so many proxies (or threads) picking
//! at once do not fall into step the way separate round-robin counters can, and it is
//! the cheapest choice when servers are alike. Over many requests the weights hold;
//! over a few, runs happen — use round-robin when short-term evenness matters.

use super::rng::Rng;
use super::{Algorithm, Reason, View};

#[derive(Debug, Default)]
pub struct WeightedRandom {
    rng: Rng,
}

impl WeightedRandom {
    /// Draws from the calling thread's random source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Draws from one source seeded with `seed`: the same seed gives the same picks.
    pub fn with_seed(seed: u64) -> Self {
        WeightedRandom {
            rng: Rng::seeded(seed),
        }
    }
}

/// A weighted random eligible server other than `skip`; `None` when there is none.
pub(super) fn weighted(view: &dyn View, rng: &Rng, skip: Option<usize>) -> Option<usize> {
    let candidates = || (0..view.len()).filter(|&i| view.eligible(i) && Some(i) != skip);
    let weight = |i| u64::from(view.weight(i).max(1));
    let total: u64 = candidates().map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut r = rng.below(total);
    for i in candidates() {
        match r.checked_sub(weight(i)) {
            Some(rest) => r = rest,
            None => return Some(i),
        }
    }
    None
}

impl Algorithm for WeightedRandom {
    fn name(&self) -> &'static str {
        "random"
    }

    fn pick(&self, view: &dyn View, _key: Option<&[u8]>) -> Option<(usize, Reason)> {
        weighted(view, &self.rng, None).map(|i| (i, Reason::Random))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fixed;
    use super::*;

    fn picks(random: &WeightedRandom, view: &Fixed, n: usize) -> String {
        (0..n)
            .map(|_| {
                let (i, reason) = random.pick(view, None).unwrap();
                assert_eq!(reason, Reason::Random);
                (b'A' + i as u8) as char
            })
            .collect()
    }

    fn count(s: &str, c: char) -> usize {
        s.chars().filter(|&x| x == c).count()
    }

    #[test]
    fn seeded_picks_are_exact() {
        assert_eq!(WeightedRandom::new().name(), "random");
        let view = Fixed::new(&[1, 1, 1]);
        assert_eq!(
            picks(&WeightedRandom::with_seed(42), &view, 12),
            "CCCCBCAACBAC"
        );
        let view = Fixed::new(&[3, 1]);
        assert_eq!(
            picks(&WeightedRandom::with_seed(42), &view, 12),
            "ABBBABAABAAB"
        );
    }

    #[test]
    fn weight_ratio_holds_over_many_picks() {
        let view = Fixed::new(&[1, 2, 7]);
        let s = picks(&WeightedRandom::with_seed(9), &view, 10_000);
        let got = [count(&s, 'A'), count(&s, 'B'), count(&s, 'C')];
        assert_eq!(got, [1029, 1961, 7010]);
        for (got, want) in got.into_iter().zip([1000, 2000, 7000]) {
            assert!(got.abs_diff(want) * 20 <= want, "{got} vs {want}");
        }
    }

    #[test]
    fn ineligible_servers_are_never_chosen() {
        let mut view = Fixed::new(&[5, 1, 5]);
        view.down[0] = true;
        view.down[2] = true;
        assert_eq!(
            picks(&WeightedRandom::with_seed(3), &view, 50),
            "B".repeat(50)
        );
        view.down[1] = true;
        assert_eq!(WeightedRandom::with_seed(3).pick(&view, None), None);
        assert_eq!(WeightedRandom::new().pick(&Fixed::new(&[]), None), None);
    }

    #[test]
    fn in_flight_is_ignored() {
        let mut view = Fixed::new(&[1, 1]);
        view.in_flight = vec![100, 0];
        let s = picks(&WeightedRandom::with_seed(5), &view, 1000);
        assert!((400..600).contains(&count(&s, 'A')));
    }
}
