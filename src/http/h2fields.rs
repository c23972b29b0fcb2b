//! An h2 upstream's answer fields as the `h2` crate decoded them, kept beside weir's
//! copy of them in the [`ResponseHead`](super::ResponseHead), so an h2 client can be
//! answered with that map itself when nothing changed the head on the way.
//!
//! Converting the answer twice (h2's map into weir's head, for routes, middleware and
//! the access log; weir's head back into a map for the client's h2 side) cost ~4,200
//! instructions per unary gRPC call (a name parsed, a value checked and the field
//! hashed into a new map, per field). `downstream::h2::head::response` compares the
//! kept map with the head (bytes, in order) and sends the map when they agree, else
//! builds one from the head as before, so a middleware's change is never lost.
//!
//! The map is taken through `&ResponseHead` (the client side gets the head shared), so
//! it sits behind a lock nobody else holds. A copy of the head keeps no map: its
//! client is answered from its fields.

use std::fmt;
use std::sync::Mutex;

/// The upstream's field map, if it is still to be used (see the module docs).
#[derive(Default)]
pub struct H2Fields(Mutex<Option<http::HeaderMap>>);

impl H2Fields {
    /// Keeps `fields`, the map weir's head was just filled from.
    pub(crate) fn keep(&mut self, fields: http::HeaderMap) {
        *self.slot() = Some(fields);
    }

    /// The kept map, once: whoever takes it answers with it or drops it.
    pub(crate) fn take(&self) -> Option<http::HeaderMap> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Forgets the map (the head is being reused for another answer).
    pub(crate) fn clear(&mut self) {
        *self.slot() = None;
    }

    fn slot(&mut self) -> &mut Option<http::HeaderMap> {
        self.0.get_mut().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for H2Fields {
    /// Empty: a copy of a head is answered from its own fields.
    fn clone(&self) -> Self {
        H2Fields::default()
    }
}

impl fmt::Debug for H2Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("H2Fields")
    }
}
