//! The upstream servers and the connections kept open to them.

pub mod pool;

use std::net::SocketAddr;
use std::ops::Deref;

/// One origin server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The address connected to (resolved once, when the config loads).
    pub addr: SocketAddr,
    /// Relative share of requests for weighted balancers; at least 1.
    pub weight: u32,
}

/// The ordered upstream list that balancers pick indices from.
#[derive(Clone, Debug, Default)]
pub struct Upstreams {
    list: Vec<Upstream>,
}

impl Upstreams {
    pub fn new(list: Vec<Upstream>) -> Self {
        Upstreams { list }
    }
}

impl Deref for Upstreams {
    type Target = [Upstream];

    fn deref(&self) -> &[Upstream] {
        &self.list
    }
}
