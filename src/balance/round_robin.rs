//! Smooth weighted round-robin, as nginx does it.
//!
//! Each pick adds every server's weight to its running score, takes the highest score and
//! subtracts the total weight from it. Weights 3:1 give A A B A, not A A A B: heavier
//! servers get more turns without long runs. With equal weights this is plain rotation,
//! so that case skips the lock and uses one atomic counter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct RoundRobin {
    weights: Vec<i64>,
    total: i64,
    /// Running scores; only used when weights differ.
    current: Mutex<Vec<i64>>,
    next: AtomicUsize,
    uniform: bool,
}

impl RoundRobin {
    /// A balancer over servers with these weights (each at least 1).
    pub fn new(weights: &[u32]) -> Self {
        let weights: Vec<i64> = weights.iter().map(|&w| i64::from(w.max(1))).collect();
        RoundRobin {
            total: weights.iter().sum(),
            current: Mutex::new(vec![0; weights.len()]),
            next: AtomicUsize::new(0),
            uniform: weights.windows(2).all(|w| w[0] == w[1]),
            weights,
        }
    }

    /// The next server's index; `None` when there are no servers.
    pub fn pick(&self) -> Option<usize> {
        let n = self.weights.len();
        if n == 0 {
            return None;
        }
        if self.uniform {
            return Some(self.next.fetch_add(1, Ordering::Relaxed) % n);
        }
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut best = 0;
        for i in 0..n {
            current[i] += self.weights[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= self.total;
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(weights: &[u32], n: usize) -> String {
        let rr = RoundRobin::new(weights);
        (0..n)
            .map(|_| (b'A' + rr.pick().unwrap() as u8) as char)
            .collect()
    }

    #[test]
    fn equal_weights_rotate() {
        assert_eq!(picks(&[1, 1, 1], 7), "ABCABCA");
    }

    #[test]
    fn weights_are_smooth() {
        assert_eq!(picks(&[3, 1], 8), "AABAAABA");
        assert_eq!(picks(&[5, 1, 1], 7), "AABACAA");
    }

    #[test]
    fn weight_ratio_holds_over_many_picks() {
        let s = picks(&[1, 2, 7], 1000);
        let count = |c| s.chars().filter(|&x| x == c).count();
        assert_eq!((count('A'), count('B'), count('C')), (100, 200, 700));
    }

    #[test]
    fn empty_has_no_pick() {
        assert_eq!(RoundRobin::new(&[]).pick(), None);
    }
}
