//! A byte-string map for lookup on the hot path: a fast fixed hash, and a note of which key
//! lengths exist so that most probes are refused before hashing.
//!
//! std's default SipHash is keyed per map to stop an attacker who chooses the *keys* from
//! piling them into one bucket. Here the keys are the operator's (hosts and paths from the
//! config, fixed at build time); requests only choose what is *looked up*, and a lookup
//! costs one bucket's probe sequence whatever its hash, a sequence the config alone
//! shaped. So a fixed, fast hash is safe, and it halves the cost of a probe.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Keys to values, for keys set at build time and looked up per request.
#[derive(Debug, Clone)]
pub struct Keys<V> {
    map: HashMap<Box<[u8]>, V, BuildHasherDefault<WordHasher>>,
    /// `lens[n]`: some key is `n` bytes long. One longer than the longest key.
    lens: Vec<bool>,
}

impl<V> Default for Keys<V> {
    fn default() -> Self {
        Keys {
            map: HashMap::default(),
            lens: Vec::new(),
        }
    }
}

impl<V> Keys<V> {
    /// The value at `key`, inserted with `V::default()` if absent.
    pub fn entry(&mut self, key: &[u8]) -> &mut V
    where
        V: Default,
    {
        if self.lens.len() <= key.len() {
            self.lens.resize(key.len() + 1, false);
        }
        self.lens[key.len()] = true;
        self.map.entry(key.into()).or_default()
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if !self.lens.get(key.len()).copied().unwrap_or(false) {
            return None;
        }
        self.map.get(key)
    }

    /// The length of the longest key, or `None` when there are none.
    #[inline]
    pub fn longest(&self) -> Option<usize> {
        self.lens.len().checked_sub(1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.map.iter().map(|(k, v)| (&**k, v))
    }
}

/// A multiply-rotate hash over 8-byte words (the shape of rustc's FxHash): a handful of
/// cycles for a host or a path, where SipHash-1-3 takes tens of nanoseconds.
#[derive(Default)]
pub struct WordHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(K);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the high bits best mixed; hashbrown takes the bucket from
        // the low bits and its tag from the high ones, so fold them over.
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_absent_lengths_and_finds_keys() {
        let mut keys: Keys<Vec<u32>> = Keys::default();
        keys.entry(b"/api").push(1);
        keys.entry(b"/api").push(2);
        keys.entry(b"").push(3);
        assert_eq!(keys.get(b"/api").map(Vec::as_slice), Some(&[1, 2][..]));
        assert_eq!(keys.get(b"").map(Vec::as_slice), Some(&[3][..]));
        assert_eq!(keys.get(b"/apx"), None);
        assert_eq!(keys.get(b"/ap"), None);
        assert_eq!(keys.get(b"/api/x"), None);
        assert_eq!(keys.longest(), Some(4));
        assert_eq!(Keys::<u8>::default().longest(), None);
    }

    #[test]
    fn words_and_tails_all_count() {
        let hash = |b: &[u8]| {
            let mut h = WordHasher::default();
            h.write(b);
            h.finish()
        };
        assert_ne!(hash(b"/abcdefgh1"), hash(b"/abcdefgh2"));
        assert_ne!(hash(b"1/abcdefgh"), hash(b"2/abcdefgh"));
    }
}
