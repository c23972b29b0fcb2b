//! Header values for the `h2` crate's maps, cut from one shared buffer.
//!
//! Both h2 ends build an `http::HeaderMap` from a weir head on every message (the
//! request to an h2 upstream, the response to an h2 client). `HeaderValue::from_bytes`
//! copies each value into a `Bytes` of its own: an allocation, a copy and a free per
//! field per message (11 per unary gRPC call through an h2c group). Here the head's
//! values are copied once into one buffer, and each `HeaderValue` is a slice of it
//! (`from_maybe_shared`, which checks the bytes as `from_bytes` does, without copying).

use bytes::Bytes;
use http::header::{HeaderValue, InvalidHeaderValue};

use super::Headers;

/// The values of a head, back to back, handed out field by field in its order.
pub(crate) struct Values {
    all: Bytes,
    /// Where the next field's value starts.
    at: usize,
}

impl Values {
    /// The values of `headers`, copied once.
    pub fn of(headers: &Headers) -> Self {
        let len = headers.fields().map(|(_, v)| v.len()).sum();
        let mut all = Vec::with_capacity(len);
        for (_, value) in headers.fields() {
            all.extend_from_slice(value);
        }
        Values {
            all: Bytes::from(all),
            at: 0,
        }
    }

    /// The next field's value (`len` bytes long): checked as `HeaderValue::from_bytes`
    /// checks it, sharing the buffer. Call once per field, in order, also for fields
    /// not sent ([`skip`](Self::skip)).
    pub fn next(&mut self, len: usize) -> Result<HeaderValue, InvalidHeaderValue> {
        let value = self.all.slice(self.at..self.at + len);
        self.at += len;
        HeaderValue::from_maybe_shared(value)
    }

    /// Passes over the next field's value (`len` bytes), not sent.
    pub fn skip(&mut self, len: usize) {
        self.at += len;
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
        let mut values = Values::of(&h);
        assert_eq!(values.next(3).unwrap(), "one");
        values.skip(0);
        assert_eq!(values.next(5).unwrap(), "three");
        assert!(values.next(4).is_err());
    }
}
