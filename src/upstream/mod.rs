//! The upstream servers, their live state, and the connections kept open to them.
//!
//! [`peer::Peer`] is one request's way to a server as the exchange uses it (connect +
//! TLS, the HTTP/1.1 keep-alive [`pool`] or the HTTP/2 multiplexed [`h2pool`], request
//! out, response head and body in); [`group::Group`] holds a group's servers,
//! pool and health, and says each server's change of state in one place
//! ([`group::Group::went`]) for passive ([`state`]) and active ([`health`]) checks.

pub(crate) mod group;
mod grpc_health;
pub(crate) mod h2conn;
pub(crate) mod h2pool;
pub(crate) mod health;
pub(crate) mod peer;
pub mod pool;
pub(crate) mod proxy_header;
pub mod shortage;
pub mod state;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use state::ServerState;

use crate::balance::View;

/// One origin server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The address connected to: written in the config, resolved when the config
    /// loads, or (in a group with `resolve`) found by the latest DNS lookup.
    pub addr: SocketAddr,
    /// Relative share of requests for weighted balancers; at least 1.
    pub weight: u32,
}

/// The ordered upstream list that balancers pick indices from, with live state.
///
/// Balancers, pools, counters and health checks all name a server by its index, so
/// an index stays one server for the group's life: a group whose names are
/// re-resolved (`discovery`) has a fixed number of slots, like HAProxy's
/// `server-template`. A slot that no lookup fills, or whose address left the answer,
/// is *unlisted*: no new request picks it, and its requests in flight finish. The
/// list of addresses is swapped whole when a lookup changes it; a request reads one
/// snapshot per pick.
#[derive(Default)]
pub struct Upstreams {
    list: RwLock<Arc<[Upstream]>>,
    state: Vec<ServerState>,
    /// Some slot has a priority other than 0 (an SRV answer said so): views then
    /// find the lowest priority with a server up.
    prioritised: AtomicBool,
}

impl Upstreams {
    /// Every server listed, as a config without names gives them.
    pub fn new(list: Vec<Upstream>) -> Self {
        let state = list.iter().map(|_| ServerState::default()).collect();
        Upstreams {
            list: RwLock::new(list.into()),
            state,
            prioritised: AtomicBool::new(false),
        }
    }

    /// `list` first (listed), then `spare` empty slots (unlisted) for discovery.
    pub fn with_slots(list: Vec<Upstream>, spare: usize) -> Self {
        let listed = list.len();
        let empty = Upstream {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            weight: 1,
        };
        let mut all = list;
        all.resize(listed + spare, empty);
        let up = Upstreams::new(all);
        for s in &up.state[listed..] {
            s.set_unlisted(true);
        }
        up
    }

    /// The number of slots (listed or not).
    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// The servers as they stand now (one consistent list of every slot).
    pub fn snapshot(&self) -> Arc<[Upstream]> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The address of slot `i` now, read under the lock: no reference count is taken
    /// (this runs on every request).
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.list.read().unwrap_or_else(|p| p.into_inner())[i].addr
    }

    /// Says that slots may have priorities other than 0 from now on.
    pub(crate) fn set_prioritised(&self) {
        self.prioritised.store(true, Relaxed);
    }

    /// Replaces the list (same length): discovery's new answer.
    pub(crate) fn replace(&self, list: Vec<Upstream>) {
        debug_assert_eq!(list.len(), self.state.len());
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = list.into();
    }

    /// Whether slot `i` is worth showing (status, API, metrics): listed, or leaving
    /// with requests still in flight.
    pub fn shown(&self, i: usize) -> bool {
        let s = &self.state[i];
        !s.is_unlisted() || s.in_flight() > 0
    }

    /// How many slots hold a listed server.
    pub fn listed(&self) -> usize {
        self.state.iter().filter(|s| !s.is_unlisted()).count()
    }

    /// Live state of server `i`.
    pub fn state(&self, i: usize) -> &ServerState {
        &self.state[i]
    }

    /// A balancer's view for one request: healthy servers not yet tried.
    pub fn view(&self, tried: u64) -> Eligible<'_> {
        let now = crate::rt::now();
        Eligible {
            list: self.snapshot(),
            upstreams: self,
            tried,
            now,
            priority: self.lowest_priority_up(now),
        }
    }

    /// The lowest priority among servers listed, not drained and up (RFC 2782: the
    /// others wait while any of it is up); 0 unless an SRV answer set priorities.
    fn lowest_priority_up(&self, now: Instant) -> u16 {
        if !self.prioritised.load(Relaxed) {
            return 0;
        }
        let ready = |s: &&ServerState| !s.is_unlisted() && !s.is_drained() && s.is_up(now);
        let lowest = self
            .state
            .iter()
            .filter(ready)
            .map(ServerState::priority)
            .min();
        lowest.unwrap_or(0)
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
    list: Arc<[Upstream]>,
    upstreams: &'a Upstreams,
    tried: u64,
    now: Instant,
    /// Only servers of this priority are offered (see `lowest_priority_up`).
    priority: u16,
}

impl Eligible<'_> {
    /// Whether any server at all is up, ignoring what was tried.
    pub fn any_up(&self) -> bool {
        let state = self.upstreams.state.iter();
        state
            .filter(|s| !s.is_unlisted())
            .any(|s| s.is_up(self.now))
    }
}

impl View for Eligible<'_> {
    fn len(&self) -> usize {
        self.list.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.list[i].weight
    }
    fn in_flight(&self, i: usize) -> u32 {
        self.upstreams.state[i].in_flight()
    }
    fn eligible(&self, i: usize) -> bool {
        let s = &self.upstreams.state[i];
        let listed = !s.is_drained() && !s.is_unlisted() && s.priority() == self.priority;
        !was_tried(self.tried, i) && listed && s.is_up(self.now)
    }
}
