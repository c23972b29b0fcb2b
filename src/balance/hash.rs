//! Consistent hashing on a request key (client IP, a header, the path, a cookie), so the
//! same key keeps reaching the same server while the server set changes little.
//!
//! A ring hash, ketama-style, rather than Maglev. Each server owns points on a 64-bit
//! ring, as many as its weight over the average weight times [`POINTS_PER_SERVER`]; a
//! key goes to the first point at or after its hash. Why the ring: a server that is
//! down or already tried is stepped over to the next point, so only its keys move,
//! spread over the others by their points, and they come back when it does; a server
//! appended to servers of its own weight takes keys for itself only. Maglev's balances
//! more evenly (about 1% off) with O(1) lookups, but stepping past a down server means
//! probing the table or rebuilding it per change in eligibility, and a rebuild also
//! shuffles some keys between servers that stayed. For the tens of servers an upstream
//! has, a binary search over some thousands of points costs nothing.
//!
//! Hashes are FNV-1a 64 followed by a 64-bit finalizer (FNV alone mixes short, similar
//! keys poorly into the high bits). Both are written here, not std's `DefaultHasher`,
//! whose output may change between Rust releases and would remap every key on upgrade.
//! Points are named by server position, and their count depends on the average weight,
//! so reordering servers, removing one that is not last, or changing weights moves
//! more keys than the minimum; marking a server down or appending one does not.

use super::{Algorithm, Reason, RoundRobin, View};

/// Ring points per server when all weights are equal. A server's share of the keys is
/// off by about 1/√points: ketama's 160 leaves it about 8% off, 1024 about 3%, for
/// 16 KiB per server and three more steps in the binary search.
const POINTS_PER_SERVER: u64 = 1024;
/// At most this many characters of the key go into the reason.
const REASON_KEY_CHARS: usize = 64;

pub struct ConsistentHash {
    /// (point, server) sorted by point.
    ring: Vec<(u64, usize)>,
    /// Decides when a request has no key.
    fallback: RoundRobin,
}

impl ConsistentHash {
    /// Builds the ring for servers with these weights (0 counts as 1).
    pub fn new(weights: &[u32]) -> Self {
        let weights: Vec<u64> = weights.iter().map(|&w| u64::from(w.max(1))).collect();
        let total: u64 = weights.iter().sum();
        let n = weights.len() as u64;
        let mut ring = Vec::new();
        for (server, &w) in weights.iter().enumerate() {
            let points = (POINTS_PER_SERVER * n * w / total).max(1);
            for point in 0..points {
                let mut name = [0u8; 16];
                name[..8].copy_from_slice(&(server as u64).to_le_bytes());
                name[8..].copy_from_slice(&point.to_le_bytes());
                ring.push((hash(&name), server));
            }
        }
        ring.sort_unstable();
        ConsistentHash {
            ring,
            fallback: RoundRobin::new(),
        }
    }

    /// The first eligible server at or after `key`'s place on the ring.
    fn lookup(&self, view: &dyn View, key: &[u8]) -> Option<usize> {
        let h = hash(key);
        let (wrapped, from) = self
            .ring
            .split_at(self.ring.partition_point(|&(p, _)| p < h));
        from.iter()
            .chain(wrapped)
            .map(|&(_, server)| server)
            .find(|&server| server < view.len() && view.eligible(server))
    }
}

/// FNV-1a 64, then the murmur3 64-bit finalizer to spread every input bit.
fn hash(bytes: &[u8]) -> u64 {
    let mut h = fnv1a(bytes);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Algorithm for ConsistentHash {
    fn name(&self) -> &'static str {
        "hash"
    }

    fn pick(&self, view: &dyn View, key: Option<&[u8]>) -> Option<(usize, Reason)> {
        let Some(key) = key else {
            return self.fallback.next(view).map(|i| (i, Reason::HashFallback));
        };
        let server = self.lookup(view, key)?;
        let key = String::from_utf8_lossy(key)
            .chars()
            .take(REASON_KEY_CHARS)
            .collect();
        Some((server, Reason::Hash { key }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fixed;
    use super::*;

    fn owner(ch: &ConsistentHash, view: &Fixed, key: &str) -> usize {
        ch.pick(view, Some(key.as_bytes())).unwrap().0
    }

    /// The owners of `key-0`, `key-1`, ...
    fn owners(ch: &ConsistentHash, view: &Fixed, keys: usize) -> Vec<usize> {
        (0..keys)
            .map(|k| owner(ch, view, &format!("key-{k}")))
            .collect()
    }

    /// The server letter for each of `keys`.
    fn picks(ch: &ConsistentHash, view: &Fixed, keys: &[&str]) -> String {
        keys.iter()
            .map(|k| (b'A' + owner(ch, view, k) as u8) as char)
            .collect()
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fixed_keys_pick_exact_servers() {
        assert_eq!(ConsistentHash::new(&[1]).name(), "hash");
        let users = [
            "user1", "user2", "user3", "user4", "user5", "user6", "user7",
        ];
        let others = ["10.0.0.1", "10.0.0.2", "/", "/a", "/b", "", "user/ü"];
        let mut view = Fixed::new(&[1, 1, 1, 1]);
        let ch = ConsistentHash::new(&view.weights);
        assert_eq!(picks(&ch, &view, &users), "DCCADAC");
        assert_eq!(picks(&ch, &view, &others), "BBCADDA");
        // D down: only D's keys move, each to the next server on the ring.
        view.down[3] = true;
        assert_eq!(picks(&ch, &view, &users), "ACCAAAC");
        let view = Fixed::new(&[1, 1, 1, 5]);
        let ch = ConsistentHash::new(&view.weights);
        assert_eq!(picks(&ch, &view, &users), "DDDDDAD");
    }

    #[test]
    fn same_key_same_server_with_the_key_as_reason() {
        let view = Fixed::new(&[1, 2, 3]);
        let ch = ConsistentHash::new(&view.weights);
        let first = ch.pick(&view, Some(b"user7")).unwrap();
        assert_eq!(first.1.to_string(), "hash key=user7");
        assert!((0..10).all(|_| ch.pick(&view, Some(b"user7")).unwrap() == first));
        let (_, long) = ch.pick(&view, Some(&[b'x'; 100])).unwrap();
        assert_eq!(long.to_string(), format!("hash key={}", "x".repeat(64)));
        let (_, lossy) = ch.pick(&view, Some(b"a\xffb")).unwrap();
        assert_eq!(lossy.to_string(), "hash key=a\u{fffd}b");
    }

    #[test]
    fn weight_ratio_holds_over_many_keys() {
        let view = Fixed::new(&[1, 2, 3, 4]);
        let owners = owners(&ConsistentHash::new(&view.weights), &view, 10_000);
        for (server, want) in [1000, 2000, 3000, 4000].into_iter().enumerate() {
            let got = owners.iter().filter(|&&o| o == server).count();
            assert!(
                (want * 9 / 10..=want * 11 / 10).contains(&got),
                "{server}: {got}"
            );
        }
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let mut view = Fixed::new(&[1; 5]);
        let ch = ConsistentHash::new(&view.weights);
        let before = owners(&ch, &view, 10_000);
        view.down[2] = true;
        let after = owners(&ch, &view, 10_000);
        for (b, a) in before.iter().zip(&after) {
            assert!(if *b == 2 { *a != 2 } else { a == b });
        }
        view.down[2] = false;
        assert_eq!(owners(&ch, &view, 10_000), before);
    }

    #[test]
    fn adding_a_sixth_server_moves_about_a_sixth_of_keys() {
        let (five, six) = (Fixed::new(&[1; 5]), Fixed::new(&[1; 6]));
        let before = owners(&ConsistentHash::new(&five.weights), &five, 10_000);
        let after = owners(&ConsistentHash::new(&six.weights), &six, 10_000);
        let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        assert!((1000..=2500).contains(&moved.len()), "{}", moved.len());
        // Equal weights keep each old server's points: keys move only to the new one.
        assert!(moved.iter().all(|&(_, &a)| a == 5));
    }

    #[test]
    fn missing_key_falls_back_to_round_robin() {
        let mut view = Fixed::new(&[3, 1]);
        let ch = ConsistentHash::new(&view.weights);
        let picks: Vec<_> = (0..8).map(|_| ch.pick(&view, None).unwrap()).collect();
        assert!(picks.iter().all(|(_, r)| *r == Reason::HashFallback));
        let s: String = picks
            .iter()
            .map(|&(i, _)| (b'A' + i as u8) as char)
            .collect();
        assert_eq!(s, "AABAAABA");
        view.down = vec![true; 2];
        assert_eq!(ch.pick(&view, None), None);
    }

    #[test]
    fn ineligible_servers_are_never_chosen_and_none_when_none() {
        let mut view = Fixed::new(&[1, 1, 1]);
        let ch = ConsistentHash::new(&view.weights);
        view.down[0] = true;
        view.down[2] = true;
        assert!(owners(&ch, &view, 1000).iter().all(|&o| o == 1));
        view.down[1] = true;
        assert_eq!(ch.pick(&view, Some(b"user7")), None);
        let empty = Fixed::new(&[]);
        assert_eq!(ConsistentHash::new(&[]).pick(&empty, Some(b"k")), None);
    }
}
