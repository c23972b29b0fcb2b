//! Field names compared without regard to case, eight bytes at a time.
//!
//! Every lookup in a header list compares the names of its fields with the one asked
//! for (`Headers::get`, `remove`, `set`). The standard library's `eq_ignore_ascii_case`
//! goes byte by byte below 16 bytes, about 15 instructions a byte, and nearly every
//! field name is shorter than that: one lookup of `x-request-id` was ~300 instructions.
//! Here a name is compared a machine word at a time: two words differ only by case
//! when every differing bit is the 0x20 bit of a byte that is an ASCII letter.

const ALL: u64 = u64::MAX / 0xff; // 0x0101_0101_0101_0101
const HIGH: u64 = ALL * 0x80;

/// Whether `stored` and `asked` are the same name, ASCII case aside: the same answer as
/// `stored.eq_ignore_ascii_case(asked)`.
/// The length check is inlined into every lookup's loop (most fields differ in length
/// from the name asked for); the comparison of equal lengths is not.
#[inline]
pub(crate) fn same_name(stored: &[u8], asked: &[u8]) -> bool {
    stored.len() == asked.len() && same_length_name(stored, asked)
}

fn same_length_name(stored: &[u8], asked: &[u8]) -> bool {
    let len = stored.len();
    if len < 8 {
        return same_word(short(stored), short(asked), stored, asked);
    }
    let mut at = 0;
    while at + 8 <= len {
        let (a, b) = (&stored[at..at + 8], &asked[at..at + 8]);
        if !same_word(word(a), word(b), a, b) {
            return false;
        }
        at += 8;
    }
    // The last, partial word: the final eight bytes again, overlapping the last whole one.
    let (a, b) = (&stored[len - 8..], &asked[len - 8..]);
    at == len || same_word(word(a), word(b), a, b)
}

/// Eight bytes as one word (`bytes` has at least eight).
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(w)
}

/// Fewer than eight bytes as one word, zeros after them.
fn short(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |w, &c| (w << 8) | u64::from(c))
}

/// Whether words `a` and `b` (the bytes `a_bytes` and `b_bytes`) match, ASCII case
/// aside. A byte with its high bit set (not ASCII, never in a token) sends the word
/// to the byte-wise comparison, where the arithmetic below would carry.
fn same_word(a: u64, b: u64, a_bytes: &[u8], b_bytes: &[u8]) -> bool {
    let differ = a ^ b;
    if differ == 0 {
        return true;
    }
    if (a | b) & HIGH != 0 {
        return a_bytes.eq_ignore_ascii_case(b_bytes);
    }
    let lower = a | (ALL * 0x20);
    // High bit of each byte of `lower` at or above `a`, and at or above `{` (past `z`).
    let from_a = lower.wrapping_add(ALL * (0x80 - u64::from(b'a')));
    let past_z = lower.wrapping_add(ALL * (0x80 - u64::from(b'z') - 1));
    let letters = from_a & !past_z & HIGH;
    differ & !(letters >> 2) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_pair_agrees_with_the_standard_library() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let want = a.eq_ignore_ascii_case(&b);
                for pad in [0, 3, 7, 8, 13] {
                    let mut x = vec![b'k'; pad];
                    let mut y = x.clone();
                    x.push(a);
                    y.push(b);
                    x.extend_from_slice(b"-Zz");
                    y.extend_from_slice(b"-zZ");
                    assert_eq!(same_name(&x, &y), want, "{a:#04x} {b:#04x} at {pad}");
                }
            }
        }
    }

    #[test]
    fn names_of_every_length() {
        let name = b"X-Forwarded-For-And-A-Long-Tail";
        for len in 0..=name.len() {
            let (a, lower) = (&name[..len], name[..len].to_ascii_lowercase());
            assert!(same_name(a, &lower), "{len}");
            assert!(!same_name(a, &name[..len.saturating_sub(1)]) || len == 0);
            for at in 0..len {
                let mut other = lower.clone();
                other[at] = b'#';
                assert!(!same_name(a, &other), "{len} at {at}");
            }
        }
        assert!(!same_name(b"content-length", b"content_length"));
        assert!(!same_name(b"a^b", b"a~b"));
        assert!(!same_name(b"a_b", b"a\x7fb"));
    }
}
