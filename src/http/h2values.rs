//! Header values for the `h2` crate's maps, cut from one shared buffer.
//!
//! Both h2 ends build an `http::HeaderMap` from a weir head on every message (the
//! request to an h2 upstream, the response to an h2 client). `HeaderValue::from_bytes`
//! copies each value into a `Bytes` of its own: an allocation, a copy and a free per
//! field per message (11 per unary gRPC call through an h2c group). Here the head's
//! values are copied once into one buffer, and each `HeaderValue` is a slice of it
//! (`from_maybe_shared`, which checks the bytes as `from_bytes` does, without copying).
//!
//! That buffer is cut from a block the thread keeps ([`ARENA`]), not allocated per
//! message: a `Vec` of its own per head cost an allocation and a free, and its first
//! slice another (a `Bytes` made from a `Vec` allocates its shared counter when first
//! cloned): ~300 instructions a small h2 response. A block is freed once the last value
//! cut from it is dropped (h2 drops a head once it has encoded it); a thread holds at
//! most one block beyond those. A head larger than a block gets a buffer of its own.
//! The content-length weir sends is written there too, instead of `HeaderValue::from`
//! a number, which allocated for its digits; and, for a request to an h2 upstream,
//! its `:authority` and `:path` ([`Values::of_request`]), which `http::Uri`'s builder
//! copied into a `Bytes` each (two allocations per call).

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, InvalidHeaderValue};

use super::write::decimal;
use super::Headers;

/// The block values are cut from, per thread: a few dozen small heads each.
const BLOCK: usize = 4096;

thread_local! {
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(BLOCK));
}

/// The values of a head, back to back, handed out field by field in its order.
pub(crate) struct Values {
    all: Bytes,
    /// Where the next field's value starts.
    at: usize,
}

impl Values {
    /// The values of `headers`, copied once, followed by `length`'s digits if given
    /// (for [`length`](Self::length)).
    pub fn of(headers: &Headers, length: Option<u64>) -> Self {
        Values::with_leading(&[], headers, length)
    }

    /// As [`of`](Self::of), with `authority` and `target` first, for
    /// [`bytes`](Self::bytes) to hand out before the fields.
    pub fn of_request(
        authority: &[u8],
        target: &[u8],
        headers: &Headers,
        length: Option<u64>,
    ) -> Self {
        Values::with_leading(&[authority, target], headers, length)
    }

    fn with_leading(leading: &[&[u8]], headers: &Headers, length: Option<u64>) -> Self {
        let mut digits = [0u8; 20];
        let digits = match length {
            Some(n) => decimal(n, &mut digits),
            None => &[][..],
        };
        let len = leading.iter().map(|b| b.len()).sum::<usize>()
            + headers.fields().map(|(_, v)| v.len()).sum::<usize>()
            + digits.len();
        let fill = |buf: &mut BytesMut| {
            for bytes in leading {
                buf.extend_from_slice(bytes);
            }
            for (_, value) in headers.fields() {
                buf.extend_from_slice(value);
            }
            buf.extend_from_slice(digits);
        };
        let all = match len <= BLOCK {
            true => ARENA.with_borrow_mut(|arena| {
                // Takes the block back when no value cut from it is left, else starts
                // a new one (never copies: the arena is empty between heads).
                arena.reserve(len);
                fill(arena);
                arena.split().freeze()
            }),
            false => {
                let mut own = BytesMut::with_capacity(len);
                fill(&mut own);
                own.freeze()
            }
        };
        Values { all, at: 0 }
    }

    /// The next field's value (`len` bytes long): checked as `HeaderValue::from_bytes`
    /// checks it, sharing the buffer. Call once per field, in order, also for fields
    /// not sent ([`skip`](Self::skip)).
    pub fn next(&mut self, len: usize) -> Result<HeaderValue, InvalidHeaderValue> {
        let value = self.all.slice(self.at..self.at + len);
        self.at += len;
        HeaderValue::from_maybe_shared(value)
    }

    /// The next `len` bytes as they are, unchecked: a leading part given to
    /// [`of_request`](Self::of_request), for `http`'s own parser to check.
    pub fn bytes(&mut self, len: usize) -> Bytes {
        let bytes = self.all.slice(self.at..self.at + len);
        self.at += len;
        bytes
    }

    /// Passes over the next field's value (`len` bytes), not sent.
    pub fn skip(&mut self, len: usize) {
        self.at += len;
    }

    /// The length given to [`of`](Self::of), as a value, once every field was handed
    /// out or skipped.
    pub fn length(&mut self) -> Result<HeaderValue, InvalidHeaderValue> {
        self.next(self.all.len() - self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_out_in_order_and_are_checked() {
        let mut h = Headers::new();
        h.add("a", "one").unwrap();
        h.add("b", "").unwrap();
        h.add("c", "three").unwrap();
        h.push_parsed("d", b"bad\x01");
        let mut values = Values::of(&h, Some(1234));
        assert_eq!(values.next(3).unwrap(), "one");
        values.skip(0);
        assert_eq!(values.next(5).unwrap(), "three");
        assert!(values.next(4).is_err());
        assert_eq!(values.length().unwrap(), "1234");
    }

    #[test]
    fn a_requests_authority_and_target_come_first() {
        let mut h = Headers::new();
        h.add("a", "one").unwrap();
        let mut values = Values::of_request(b"example.com", b"/x?y", &h, Some(7));
        assert_eq!(values.bytes(11), "example.com");
        assert_eq!(values.bytes(4), "/x?y");
        assert_eq!(values.next(3).unwrap(), "one");
        assert_eq!(values.length().unwrap(), "7");
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 65_535, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn heads_share_the_block_and_a_large_one_gets_its_own() {
        let mut small = Headers::new();
        small.add("a", "one").unwrap();
        let first = Values::of(&small, None).next(3).unwrap();
        let second = Values::of(&small, None).next(3).unwrap();
        assert!(first == "one" && second == "one");
        // One block, no allocation per head: the second head's values follow the first's.
        let after_first = first.as_bytes().as_ptr_range().end;
        assert_eq!(second.as_bytes().as_ptr(), after_first);
        let mut large = Headers::new();
        large.add("big", vec![b'x'; BLOCK + 1]).unwrap();
        let mut values = Values::of(&large, Some(5));
        assert_eq!(values.next(BLOCK + 1).unwrap().len(), BLOCK + 1);
        assert_eq!(values.length().unwrap(), "5");
        // Earlier values stay intact while the block is reused for later heads.
        for _ in 0..2 * BLOCK {
            let _ = Values::of(&small, Some(9)).next(3).unwrap();
        }
        assert!(first == "one" && second == "one");
    }
}
