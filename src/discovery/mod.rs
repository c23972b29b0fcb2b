//! DNS service discovery: the names in a group's `servers`, looked up again as
//! `resolve` says (an interval, or each answer's TTL within bounds), their addresses joining and leaving the group while it serves. A name
//! gives its A and AAAA addresses; an SRV name (RFC 2782) its targets' addresses with
//! each record's port, weight and priority, and only the lowest priority with a
//! server up takes requests (`Upstreams::view`).
//!
//! How it compares (the README's "Service discovery (DNS)" has the user's view):
//! - nginx (`server api.internal resolve` in an upstream with a `zone`) re-resolves at
//!   the record's TTL or its resolver's `valid=`; Envoy's STRICT_DNS at
//!   `dns_refresh_rate` (5 s) unless `respect_dns_ttl`; HAProxy's `resolvers` at
//!   `hold valid` (10 s), filling the slots of a `server-template`. weir offers the
//!   fixed interval (Envoy's default, and what `resolve = "5s"` says plainly) and the
//!   TTL within `resolve_min`/`resolve_max` (`config::Resolve`), each name on its own
//!   schedule; a failed lookup is tried again after `resolve_min`. It takes HAProxy's
//!   fixed slots ([`SLOTS_PER_NAME`] per name): every index a balancer, a pool or a
//!   counter holds stays one server for the group's life.
//! - A server that stays keeps its slot, so its pool, health and counters; one that
//!   leaves is unlisted (no new requests; in flight ones finish) and its idle
//!   connections are closed; one that comes back takes its old slot if still free.
//! - A failed lookup (timeout, SERVFAIL, NXDOMAIN, an empty answer) keeps the last
//!   good set, as nginx and Envoy do; it is logged once when the name starts failing
//!   and once when it answers again.
//! - A name that never resolved leaves its slots empty: with nothing else in the
//!   group, requests get 503, and the reply's body and the log say which name and why
//!   (`unresolved`).
//! - Names are searched the libc way (`search`), and an answer truncated over UDP is
//!   asked again over TCP (`tcp`).
//!
//! Lookups run on one plain thread per group, with blocking sockets and timeouts
//! (`dns`): never on an executor thread. The runtime boundary (`rt`) has no UDP, and a
//! lookup every few seconds does not need the reactor. The thread holds the group
//! weakly and ends once no engine holds it (a reload that changed the group).

mod apply;
mod dns;
mod find;
mod search;
mod system;
mod tcp;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::config::{NameEntry, SLOTS_PER_NAME};
use crate::upstream::group::Group;

/// How long one nameserver gets to answer one lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// One name of a group and its latest lookup, for the status page, API and metrics.
#[derive(Clone, Debug)]
pub(crate) struct NameStatus {
    pub entry: NameEntry,
    /// The addresses in use (the last good answer).
    pub addrs: Vec<SocketAddr>,
    /// When the latest lookup ended; `None` before the first.
    pub looked_up: Option<SystemTime>,
    /// `ok` or why the latest lookup failed.
    pub result: String,
    /// Whether some lookup ever succeeded.
    pub resolved: bool,
    /// Whether the latest lookup failed (a change is logged once).
    pub failing: bool,
}

impl NameStatus {
    pub fn new(entry: &NameEntry) -> Self {
        NameStatus {
            entry: entry.clone(),
            addrs: Vec::new(),
            looked_up: None,
            result: "not looked up yet".into(),
            resolved: false,
            failing: false,
        }
    }

    /// `host:port`, or the SRV name, as the config writes it.
    pub fn name(&self) -> String {
        self.entry.written()
    }
}

/// Starts looking up `group`'s names, if it has `resolve`: the first lookup here and
/// now (the caller builds an engine off the executor, at start-up or on reload), so a
/// name that exists serves from the first request; then on a thread of its own.
pub(crate) fn start(group: &Arc<Group>) {
    let Some(resolve) = group.config.resolve else {
        return;
    };
    let names = 0..group.config.names.len();
    let due: Vec<Instant> = names.map(|k| Instant::now() + look_up(group, k)).collect();
    let weak = Arc::downgrade(group);
    let name = format!("weir-dns-{}", group.name());
    let spawned = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(weak, due));
    if let Err(e) = spawned {
        eprintln!(
            "weir: upstream group {}: cannot start its DNS lookups ({resolve:?}): {e}",
            group.name()
        );
    }
}

/// Looks each name up again when it is `due`, while some engine holds the group.
fn run(group: Weak<Group>, mut due: Vec<Instant>) {
    loop {
        let Some(&next) = due.iter().min() else {
            return;
        };
        if !wait(&group, next) {
            return;
        }
        let Some(g) = group.upgrade() else { return };
        for (k, at) in due.iter_mut().enumerate() {
            if *at <= Instant::now() {
                *at = Instant::now() + look_up(&g, k);
            }
        }
    }
}

/// Sleeps until `until`, checking now and then that the group is still in use.
fn wait(group: &Weak<Group>, until: Instant) -> bool {
    loop {
        if group.strong_count() == 0 {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
}

/// Looks name `k` of the group up once and applies the answer; returns how long until
/// the next lookup (`resolve`, or the answer's TTL within the bounds).
fn look_up(group: &Group, k: usize) -> Duration {
    let Some(resolve) = group.config.resolve else {
        return Duration::MAX;
    };
    let found = find::find(&group.config.names[k], &group.config.resolver);
    let ttl = found.as_ref().map(|(_, ttl)| *ttl).map_err(|_| ());
    apply::answer(group, k, found.map(|(servers, _)| servers));
    resolve.next(ttl)
}

/// One server a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub addr: SocketAddr,
    pub weight: u32,
    /// The SRV record's priority; 0 for an A/AAAA name.
    pub priority: u16,
}

/// Why a group with names has no server to offer, when that is because its names
/// have never resolved; `None` otherwise.
pub(crate) fn unresolved(group: &Group) -> Option<String> {
    if group.config.names.is_empty() || group.upstreams.listed() > 0 {
        return None;
    }
    let names = group.names.lock().unwrap_or_else(|p| p.into_inner());
    let why: Vec<String> = names
        .iter()
        .filter(|n| !n.resolved)
        .map(|n| format!("{} ({})", n.name(), n.result))
        .collect();
    (!why.is_empty()).then(|| {
        format!(
            "upstream group {:?}: not resolved yet: {}",
            group.name(),
            why.join(", ")
        )
    })
}

/// The servers found, without repeated addresses, at most the slots a name has; and
/// how many were left out.
fn servers(found: &[Found]) -> (Vec<Found>, usize) {
    let mut out: Vec<Found> = Vec::new();
    for f in found {
        if !out.iter().any(|o| o.addr == f.addr) {
            out.push(*f);
        }
    }
    let dropped = out.len().saturating_sub(SLOTS_PER_NAME);
    out.truncate(SLOTS_PER_NAME);
    (out, dropped)
}
