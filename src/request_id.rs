//! Request ids: one name for a request in weir's access log, the upstream's log and the
//! client's bug report.
//!
//! An `X-Request-Id` the client sent is kept when it is well formed (1 to 128 bytes of
//! letters, digits and `-_.:+/=@`), so an id made further out (a CDN, another proxy)
//! survives; otherwise weir makes one. The id is forwarded upstream, returned to the
//! client and logged. A made id is 32 hex digits from a per-process random seed and a
//! counter, mixed (splitmix64): unique within the process, unguessable across
//! processes, and made without a lock or an allocation.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;

use crate::http::RequestHead;

pub const HEADER: &str = "X-Request-Id";

/// Longest client id kept.
const MAX_LEN: usize = 128;

static SEED: LazyLock<(u64, u64)> = LazyLock::new(|| {
    let s = RandomState::new();
    (s.hash_one(1u8), s.hash_one(2u8))
});
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn well_formed(v: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&v.len())
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(&b))
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A new id: 32 lowercase hex digits.
pub fn make() -> [u8; 32] {
    let n = COUNTER.fetch_add(1, Relaxed);
    let (a, b) = *SEED;
    let words = [mix(a ^ n), mix(b.wrapping_add(n))];
    let mut out = [0u8; 32];
    for (i, w) in words.iter().enumerate() {
        for j in 0..16 {
            let nibble = (w >> (60 - 4 * j)) & 0xf;
            out[i * 16 + j] = b"0123456789abcdef"[nibble as usize];
        }
    }
    out
}

/// Keeps the client's well-formed id (only the first, if it sent several), or sets a
/// new one.
pub fn ensure(req: &mut RequestHead) {
    let keep = {
        let mut ids = req.headers.get_all("x-request-id");
        ids.next().is_some_and(well_formed) && ids.next().is_none()
    };
    if keep {
        return;
    }
    let id = make();
    let _ = req.headers.set(HEADER, &id[..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(ids: &[&str]) -> RequestHead {
        let mut r = RequestHead::default();
        for id in ids {
            r.headers.add("X-Request-Id", id).unwrap();
        }
        ensure(&mut r);
        r
    }

    #[test]
    fn a_well_formed_id_is_kept_and_others_replaced() {
        let r = with(&["abc-123_x.y:z"]);
        assert_eq!(r.headers.get_str("x-request-id"), Some("abc-123_x.y:z"));
        for bad in [&["has space"][..], &["a\"b"], &["a", "b"], &[]] {
            let r = with(bad);
            let all: Vec<_> = r.headers.get_all("x-request-id").collect();
            assert_eq!(all.len(), 1, "{bad:?}");
            assert_eq!(all[0].len(), 32);
            assert!(well_formed(all[0]));
        }
        let long = "x".repeat(129);
        assert_ne!(
            with(&[&long]).headers.get_str("x-request-id"),
            Some(&long[..])
        );
    }

    #[test]
    fn made_ids_differ() {
        let a = make();
        let b = make();
        assert_ne!(a, b);
    }
}
