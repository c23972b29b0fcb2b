//! Least connections: the eligible server with the fewest requests in flight per unit
//! of weight.
//!
//! Round-robin assumes every request costs the same; when some are slow (long polls,
//! big uploads, a backend that stalls) in-flight counts show it at once and the slow
//! server is left alone until it drains. Loads are compared as `in_flight / weight`
//! without division — `a * weight_b < b * weight_a` in integers — so weights 3:1 hold
//! requests 3:1. Ties are broken round-robin: the scan starts just after the previous
//! pick, so idle equal servers alternate instead of the first one taking every request.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Algorithm, Reason, View};

#[derive(Debug, Default)]
pub struct LeastConn {
    /// Where the next scan starts: one past the previous pick.
    start: AtomicUsize,
}

impl LeastConn {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Whether server `a` is less loaded than server `b`, weight-aware and without floats.
pub(super) fn less_loaded(view: &dyn View, a: usize, b: usize) -> bool {
    let load = |i: usize, other: usize| {
        u64::from(view.in_flight(i)) * u64::from(view.weight(other).max(1))
    };
    load(a, b) < load(b, a)
}

impl Algorithm for LeastConn {
    fn name(&self) -> &'static str {
        "least-conn"
    }

    fn pick(&self, view: &dyn View, _key: Option<&[u8]>) -> Option<(usize, Reason)> {
        let n = view.len();
        if n == 0 {
            return None;
        }
        // Concurrent picks may read the same start; that only affects who wins a tie.
        let start = self.start.load(Ordering::Relaxed) % n;
        let mut best: Option<usize> = None;
        for i in (start..n).chain(0..start).filter(|&i| view.eligible(i)) {
            if best.is_none_or(|b| less_loaded(view, i, b)) {
                best = Some(i);
            }
        }
        let best = best?;
        self.start.store(best + 1, Ordering::Relaxed);
        let in_flight = view.in_flight(best);
        Some((best, Reason::LeastConn { in_flight }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fixed;
    use super::*;

    /// `n` picks; with `hold`, each chosen server keeps its request (in-flight grows).
    fn picks(view: &mut Fixed, n: usize, hold: bool) -> String {
        let lc = LeastConn::new();
        (0..n)
            .map(|_| {
                let (i, reason) = lc.pick(view, None).unwrap();
                assert_eq!(
                    reason,
                    Reason::LeastConn {
                        in_flight: view.in_flight[i]
                    }
                );
                if hold {
                    view.in_flight[i] += 1;
                }
                (b'A' + i as u8) as char
            })
            .collect()
    }

    #[test]
    fn idle_equal_servers_alternate() {
        assert_eq!(LeastConn::new().name(), "least-conn");
        assert_eq!(picks(&mut Fixed::new(&[1, 1, 1]), 7, false), "ABCABCA");
    }

    #[test]
    fn fewest_in_flight_wins_and_ties_rotate() {
        let mut view = Fixed::new(&[1, 1, 1]);
        view.in_flight = vec![2, 0, 0];
        assert_eq!(picks(&mut view, 5, false), "BCBCB");
        view.in_flight = vec![0, 0, 0];
        assert_eq!(picks(&mut view, 9, true), "ABCABCABC");
        view.in_flight = vec![5, 1, 3];
        assert_eq!(picks(&mut view, 6, true), "BBCBCB");
    }

    #[test]
    fn load_is_per_unit_of_weight() {
        let mut view = Fixed::new(&[2, 1]);
        view.in_flight = vec![3, 2];
        assert_eq!(picks(&mut view, 3, false), "AAA");
        view.in_flight = vec![4, 2];
        assert_eq!(picks(&mut view, 4, false), "ABAB");
        let mut view = Fixed::new(&[3, 1]);
        assert_eq!(picks(&mut view, 12, true), "ABAABAAABAAA");
    }

    #[test]
    fn held_requests_follow_the_weights() {
        let mut view = Fixed::new(&[1, 2, 7]);
        picks(&mut view, 1000, true);
        assert_eq!(view.in_flight, [100, 200, 700]);
    }

    #[test]
    fn ineligible_servers_are_skipped() {
        let mut view = Fixed::new(&[1, 1, 1]);
        view.in_flight = vec![9, 0, 9];
        view.down[1] = true;
        assert_eq!(picks(&mut view, 4, false), "ACAC");
        view.down = vec![true; 3];
        assert_eq!(LeastConn::new().pick(&view, None), None);
        assert_eq!(LeastConn::new().pick(&Fixed::new(&[]), None), None);
    }
}
