//! The upstream servers, their live state, and the connections kept open to them.
//!
//! [`peer::Peer`] is one request's way to a server as the exchange uses it (connect +
//! TLS, the HTTP/1.1 keep-alive [`pool`] or the HTTP/2 multiplexed [`h2pool`], request
//! out, response head and body in); [`group::Group`] holds a group's servers,
//! pool and health, and says each server's change of state in one place
//! ([`group::Group::went`]) for passive ([`state`]) and active ([`health`]) checks.

pub(crate) mod group;
pub(crate) mod h2pool;
pub(crate) mod health;
pub(crate) mod peer;
pub mod pool;
pub(crate) mod proxy_header;
pub mod shortage;
pub mod state;

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Instant;

use state::ServerState;

use crate::balance::View;

/// One origin server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The address connected to (resolved once, when the config loads).
    pub addr: SocketAddr,
    /// Relative share of requests for weighted balancers; at least 1.
    pub weight: u32,
}

/// The ordered upstream list that balancers pick indices from, with live state.
#[derive(Default)]
pub struct Upstreams {
    list: Vec<Upstream>,
    state: Vec<ServerState>,
}

impl Upstreams {
    pub fn new(list: Vec<Upstream>) -> Self {
        let state = list.iter().map(|_| ServerState::default()).collect();
        Upstreams { list, state }
    }

    /// Live state of server `i`.
    pub fn state(&self, i: usize) -> &ServerState {
        &self.state[i]
    }

    /// A balancer's view for one request: healthy servers not yet tried.
    pub fn view(&self, tried: u64) -> Eligible<'_> {
        Eligible {
            upstreams: self,
            tried,
            now: Instant::now(),
        }
    }
}

impl Deref for Upstreams {
    type Target = [Upstream];

    fn deref(&self) -> &[Upstream] {
        &self.list
    }
}

/// Whether server `i` is in the `tried` bit set. Servers past index 63 are never
/// recorded, so retries may pick one of them again.
pub fn was_tried(tried: u64, i: usize) -> bool {
    i < 64 && tried & (1 << i) != 0
}

/// Adds server `i` to the `tried` bit set (a no-op past index 63).
pub fn mark_tried(tried: &mut u64, i: usize) {
    if i < 64 {
        *tried |= 1 << i;
    }
}

/// Servers that are up and not already tried (`tried` is a bit set by index; servers
/// past 64 are never excluded by it).
pub struct Eligible<'a> {
    upstreams: &'a Upstreams,
    tried: u64,
    now: Instant,
}

impl Eligible<'_> {
    /// Whether any server at all is up, ignoring what was tried.
    pub fn any_up(&self) -> bool {
        self.upstreams.state.iter().any(|s| s.is_up(self.now))
    }
}

impl View for Eligible<'_> {
    fn len(&self) -> usize {
        self.upstreams.list.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.upstreams.list[i].weight
    }
    fn in_flight(&self, i: usize) -> u32 {
        self.upstreams.state[i].in_flight()
    }
    fn eligible(&self, i: usize) -> bool {
        let s = &self.upstreams.state[i];
        !was_tried(self.tried, i) && !s.is_drained() && s.is_up(self.now)
    }
}
