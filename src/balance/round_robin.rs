//! Smooth weighted round-robin, as nginx does it.
//!
//! Each pick adds every eligible server's weight to its running score, takes the highest
//! score and subtracts the total eligible weight from it. Weights 3:1 give A A B A, not
//! A A A B: heavier servers get more turns without long runs. Ineligible servers (down,
//! or already tried for this request) are skipped without disturbing the others.

use std::sync::Mutex;

use super::{Algorithm, Reason, View};

#[derive(Default)]
pub struct RoundRobin {
    /// Running scores, one per server, grown on first use.
    current: Mutex<Vec<i64>>,
}

impl RoundRobin {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next eligible server's index; `None` when none is eligible.
    pub fn next(&self, view: &dyn View) -> Option<usize> {
        let n = view.len();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.resize(n, 0);
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for i in (0..n).filter(|&i| view.eligible(i)) {
            let w = i64::from(view.weight(i).max(1));
            current[i] += w;
            total += w;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        current[best] -= total;
        Some(best)
    }
}

impl Algorithm for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn pick(&self, view: &dyn View, _key: Option<&[u8]>) -> Option<(usize, Reason)> {
        self.next(view).map(|i| (i, Reason::RoundRobin))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fixed;
    use super::*;

    fn picks(view: &Fixed, n: usize) -> String {
        let rr = RoundRobin::new();
        (0..n)
            .map(|_| (b'A' + rr.next(view).unwrap() as u8) as char)
            .collect()
    }

    #[test]
    fn equal_weights_rotate() {
        assert_eq!(picks(&Fixed::new(&[1, 1, 1]), 7), "ABCABCA");
    }

    #[test]
    fn weights_are_smooth() {
        assert_eq!(picks(&Fixed::new(&[3, 1]), 8), "AABAAABA");
        assert_eq!(picks(&Fixed::new(&[5, 1, 1]), 7), "AABACAA");
    }

    #[test]
    fn weight_ratio_holds_over_many_picks() {
        let s = picks(&Fixed::new(&[1, 2, 7]), 1000);
        let count = |c| s.chars().filter(|&x| x == c).count();
        assert_eq!((count('A'), count('B'), count('C')), (100, 200, 700));
    }

    #[test]
    fn ineligible_servers_are_skipped() {
        let mut view = Fixed::new(&[1, 1, 1]);
        view.down[1] = true;
        assert_eq!(picks(&view, 4), "ACAC");
        view.down = vec![true; 3];
        assert_eq!(RoundRobin::new().next(&view), None);
    }
}
