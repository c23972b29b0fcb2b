//! Which listener accepted a connection.
//!
//! Each connection carries the [`ListenerId`] of the listener that accepted it, a few
//! copied words: routes with a `listeners` condition need to know where a request came
//! in, and a name (a `String`) per connection would cost an allocation for a question
//! most configs never ask.
//!
//! It is plain data about a `listen` entry, so it lives apart from both the accept loops
//! that make it ([`crate::listeners`]) and the connections that carry it
//! ([`crate::connection`], the downstream session): each of those depends on it, and
//! on each other only one way (a listener starts connections, never the reverse).

use std::net::SocketAddr;

use crate::config::Listener;

/// Which listener accepted a connection, carried by the connection (a few words, copied,
/// never a name): a request finds its listener in the engine in force with
/// [`Engine::listener`](crate::engine::Engine::listener), since a reload may have
/// reordered `listen` while the connection was open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListenerId {
    /// Its place in `listen` when it was bound (a `u32`: every connection's session
    /// carries this struct, and the smaller field saves each 8 bytes).
    pub index: u32,
    /// The address as configured (port 0 stays 0): its identity across reloads.
    pub addr: SocketAddr,
    pub tls: bool,
}

impl ListenerId {
    /// Whether `l` is this listener: same configured address, same plain or TLS.
    pub fn is(&self, l: &Listener) -> bool {
        l.addr == self.addr && l.tls.is_some() == self.tls
    }
}
