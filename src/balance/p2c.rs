//! Power of two random choices: draw two distinct eligible servers, keep the one with
//! fewer requests in flight per unit of weight.
//!
//! Least-conn scans every server and, under concurrency, many pickers reading the same
//! counts all rush to the same least-loaded server. Two random draws avoid both: the
//! cost is constant, and the herd spreads, yet the worst load stays close to
//! least-conn's (Mitzenmacher's "power of two choices"; Envoy's default, HAProxy's
//! `random(2)`). Draws are weighted, and a tie keeps the first draw, so idle servers
//! share requests by weight. With one eligible server it is taken as is.

use super::least_conn::less_loaded;
use super::random::weighted;
use super::rng::Rng;
use super::{Algorithm, Reason, View};

#[derive(Debug, Default)]
pub struct PowerOfTwo {
    rng: Rng,
}

impl PowerOfTwo {
    /// Draws from the calling thread's random source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Draws from one source seeded with `seed`: the same seed gives the same picks.
    pub fn with_seed(seed: u64) -> Self {
        PowerOfTwo {
            rng: Rng::seeded(seed),
        }
    }
}

impl Algorithm for PowerOfTwo {
    fn name(&self) -> &'static str {
        "p2c"
    }

    /// The reason's `other` is the in-flight count of the server not taken (with a
    /// single eligible server, its own count).
    fn pick(&self, view: &dyn View, _key: Option<&[u8]>) -> Option<(usize, Reason)> {
        let first = weighted(view, &self.rng, None)?;
        let second = weighted(view, &self.rng, Some(first)).unwrap_or(first);
        let (chosen, other) = if less_loaded(view, second, first) {
            (second, first)
        } else {
            (first, second)
        };
        let in_flight = view.in_flight(chosen);
        let other = view.in_flight(other);
        Some((chosen, Reason::P2c { in_flight, other }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fixed;
    use super::*;

    /// `n` picks; with `hold`, each chosen server keeps its request (in-flight grows).
    fn picks(p2c: &PowerOfTwo, view: &mut Fixed, n: usize, hold: bool) -> String {
        (0..n)
            .map(|_| {
                let (i, reason) = p2c.pick(view, None).unwrap();
                let Reason::P2c { in_flight, .. } = reason else {
                    panic!("{reason:?}")
                };
                assert_eq!(in_flight, view.in_flight[i]);
                if hold {
                    view.in_flight[i] += 1;
                }
                (b'A' + i as u8) as char
            })
            .collect()
    }

    fn count(s: &str, c: char) -> usize {
        s.chars().filter(|&x| x == c).count()
    }

    #[test]
    fn seeded_picks_are_exact() {
        assert_eq!(PowerOfTwo::new().name(), "p2c");
        let mut view = Fixed::new(&[1, 1, 1, 1]);
        assert_eq!(
            picks(&PowerOfTwo::with_seed(42), &mut view, 12, false),
            "CDBADAAAADBC"
        );
        view.in_flight = vec![0, 4, 4, 4];
        assert_eq!(
            picks(&PowerOfTwo::with_seed(42), &mut view, 12, false),
            "CDBADAAAADAA"
        );
    }

    #[test]
    fn the_less_loaded_of_the_two_wins() {
        let mut view = Fixed::new(&[1, 1]);
        view.in_flight = vec![3, 2];
        let p2c = PowerOfTwo::with_seed(1);
        assert_eq!(picks(&p2c, &mut view, 5, false), "BBBBB");
        let (i, reason) = p2c.pick(&view, None).unwrap();
        assert_eq!(
            (i, reason.to_string().as_str()),
            (1, "p2c in_flight=2 other=3")
        );
        // Weight-aware: 3 in flight on weight 2 is lighter than 2 on weight 1.
        view.weights = vec![2, 1];
        assert_eq!(picks(&p2c, &mut view, 5, false), "AAAAA");
    }

    #[test]
    fn the_most_loaded_server_is_never_chosen() {
        let mut view = Fixed::new(&[1, 1, 1, 1]);
        view.in_flight = vec![1, 9, 2, 3];
        let s = picks(&PowerOfTwo::with_seed(7), &mut view, 1000, false);
        assert_eq!(count(&s, 'B'), 0);
        assert!(count(&s, 'A') > count(&s, 'C') && count(&s, 'C') > count(&s, 'D'));
    }

    #[test]
    fn weight_ratio_holds_over_many_picks() {
        let p2c = PowerOfTwo::with_seed(9);
        // Idle servers: every pair ties, so the weighted first draw decides.
        let s = picks(&p2c, &mut Fixed::new(&[1, 2, 7]), 10_000, false);
        let got = [count(&s, 'A'), count(&s, 'B'), count(&s, 'C')];
        assert_eq!(got, [973, 2045, 6982]);
        for (got, want) in got.into_iter().zip([1000, 2000, 7000]) {
            assert!(got.abs_diff(want) * 20 <= want, "{got} vs {want}");
        }
        // Held requests: in-flight counts end up close to the weights.
        let mut view = Fixed::new(&[1, 2, 7]);
        picks(&p2c, &mut view, 1000, true);
        assert_eq!(view.in_flight, [100, 200, 700]);
    }

    #[test]
    fn one_eligible_server_is_taken_and_none_when_none() {
        let mut view = Fixed::new(&[1, 1, 1]);
        view.in_flight = vec![0, 7, 0];
        view.down[0] = true;
        view.down[2] = true;
        let p2c = PowerOfTwo::with_seed(3);
        assert_eq!(picks(&p2c, &mut view, 20, false), "B".repeat(20));
        let (_, reason) = p2c.pick(&view, None).unwrap();
        assert_eq!(reason.to_string(), "p2c in_flight=7 other=7");
        view.down[1] = true;
        assert_eq!(p2c.pick(&view, None), None);
        assert_eq!(PowerOfTwo::new().pick(&Fixed::new(&[]), None), None);
    }
}
