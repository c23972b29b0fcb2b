//! The runtime API's JSON: what the engine in force is doing, and the calls that change
//! it (drain and enable a server). `/api/status` is everything the status page polls.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::reply::Reply;
use crate::config::{Config, Health};
use crate::engine::Engine;
use crate::metrics::events::Event;
use crate::metrics::group::REASONS;
use crate::metrics::histogram::{Snapshot, BOUNDS_US};
use crate::metrics::{RouteStats, CLASS_NAMES};
use crate::upstream::group::Group;

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn classes(counts: &[std::sync::atomic::AtomicU64]) -> Value {
    let mut m = Map::new();
    for (c, n) in CLASS_NAMES.iter().zip(counts) {
        m.insert((*c).into(), n.load(Relaxed).into());
    }
    Value::Object(m)
}

fn event(e: &Event) -> Value {
    json!({ "at_ms": millis(e.at), "kind": e.kind, "subject": e.subject, "detail": e.detail })
}

fn server(g: &Group, i: usize, now: Instant) -> Value {
    let u = g.upstreams.snapshot()[i].clone();
    let state = g.upstreams.state(i);
    let s = g.stats.server(i);
    let mut picks = Map::new();
    for (r, n) in REASONS.iter().zip(&s.picks) {
        let n = n.load(Relaxed);
        if n > 0 {
            picks.insert((*r).into(), n.into());
        }
    }
    let last = s.last_reason.load(Relaxed);
    let requests: u64 = s.responses.iter().map(|n| n.load(Relaxed)).sum();
    json!({
        "addr": u.addr.to_string(),
        "weight": u.weight,
        "up": state.is_up(now),
        "passive_up": state.passive_up(now),
        "checked_up": state.checked(),
        "drained": state.is_drained(),
        "listed": !state.is_unlisted(),
        "in_flight": state.in_flight(),
        "requests": requests,
        "responses": classes(&s.responses),
        "errors": s.errors.load(Relaxed),
        "picks": picks,
        "last_reason": REASONS.get(usize::from(last).wrapping_sub(1)),
        "idle_connections": g.pool.idle(i),
        "h2": g.config.protocol.is_h2().then(|| {
            let h = g.h2.stats(i);
            json!({ "connections": h.connections.load(Relaxed).max(0), "streams": h.streams.load(Relaxed).max(0) })
        }),
    })
}

fn group(g: &Group) -> Value {
    let now = Instant::now();
    let c = &g.config;
    json!({
        "name": g.name(),
        "balancer": c.balancer.as_str(),
        "health_checks": c.health.as_ref().map(Health::checks),
        "connections_opened": g.pool.opened(),
        "names": super::dns::json(g),
        "servers": (0..g.upstreams.len()).filter(|&i| g.upstreams.shown(i)).map(|i| server(g, i, now)).collect::<Vec<_>>(),
    })
}

/// `GET /api/upstreams`.
pub fn upstreams(e: &Engine) -> Value {
    json!({ "groups": e.groups.iter().map(|g| group(g)).collect::<Vec<_>>() })
}

fn histogram(s: &Snapshot) -> Value {
    json!({ "buckets": s.buckets.to_vec(), "sum_us": s.sum_us, "count": s.count() })
}

fn route_counts(stats: &RouteStats) -> Value {
    let snap = stats.duration.snapshot();
    json!({ "requests": classes(&stats.requests), "count": snap.count(), "sum_us": snap.sum_us })
}

/// `GET /api/routes`.
pub fn routes(e: &Engine) -> Value {
    let m = &e.stats.metrics;
    let specs = e.config.route_list();
    let list: Vec<Value> = e
        .routes
        .list
        .iter()
        .zip(specs.iter())
        .map(|(r, spec)| {
            let group = e.groups[r.group].name();
            json!({
                "name": r.name,
                "upstream": group,
                "hosts": spec.hosts,
                "path": spec.path,
                "path_exact": spec.path_exact,
                "methods": spec.methods,
                "strip_prefix": spec.strip_prefix,
                "middleware": spec.middleware,
                "stats": route_counts(&m.route(&r.name, group)),
            })
        })
        .collect();
    json!({ "routes": list, "unrouted": route_counts(&m.unrouted) })
}

/// `GET /api/status`: what the status page shows, in one poll.
pub fn status(e: &Engine) -> Value {
    let m = &e.stats.metrics;
    let mut total = Snapshot::default();
    let mut by_class = [0u64; CLASS_NAMES.len()];
    let mut all = m.routes();
    all.push(("-".into(), "-".into(), m.unrouted.clone()));
    for (_, _, s) in &all {
        total.add(&s.duration.snapshot());
        for (t, n) in by_class.iter_mut().zip(&s.requests) {
            *t += n.load(Relaxed);
        }
    }
    let mut events: Vec<Event> = m.events.list();
    for g in &e.groups {
        events.extend(g.stats.events.list());
    }
    events.sort_by_key(|ev| ev.at);
    let events: Vec<Value> = events.iter().rev().take(30).map(event).collect();
    let routes = routes(e);
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now_ms": millis(SystemTime::now()),
        "started_ms": millis(m.started_at),
        "uptime_s": m.started.elapsed().as_secs(),
        "config": e.config.source,
        "counting": e.stats.on,
        "connections_active": m.connections_active.load(Relaxed),
        "h2": {
            "connections_active": m.h2.connections_active.load(Relaxed),
            "connections_accepted": m.h2.connections_accepted.load(Relaxed),
            "streams_active": m.h2.streams_active.load(Relaxed),
            "streams_total": m.h2.streams_total.load(Relaxed),
            "streams_refused": m.h2.streams_refused.load(Relaxed),
        },
        "bounds_us": BOUNDS_US.to_vec(),
        "requests": by_class.to_vec(),
        "duration": histogram(&total),
        "routes": routes["routes"].clone(),
        "unrouted": routes["unrouted"].clone(),
        "groups": upstreams(e)["groups"].clone(),
        "events": events,
    })
}

/// `POST /api/upstreams/{group}/servers/{addr}/drain` (or `/enable`).
pub fn drain(e: &Engine, group: &str, server: &str, drain: bool, peer: SocketAddr) -> Reply {
    let Some(g) = e.groups.iter().find(|g| g.name() == group) else {
        return Reply::error(404, "no such upstream group");
    };
    let list = g.upstreams.snapshot();
    let listed = |i: &usize| !g.upstreams.state(*i).is_unlisted();
    let Some(i) = (0..list.len())
        .filter(listed)
        .find(|&i| list[i].addr.to_string() == server)
    else {
        return Reply::error(404, "no such server in this group");
    };
    let verb = if drain { "drain" } else { "enable" };
    let changed = g.upstreams.state(i).set_drained(drain);
    eprintln!("weir: admin: {verb} {server} in {group} asked by {peer} (changed: {changed})");
    if changed {
        g.stats.events.note(verb, server, format!("by {peer}"));
    }
    Reply::json(200, &server_json(g, i))
}

fn server_json(g: &Group, i: usize) -> Value {
    server(g, i, Instant::now())
}

/// `GET /api/config`: the effective config (file and flags) in the file's shape, from
/// the config types' own `Serialize` (see `config::show`), so it cannot drift from
/// what weir runs; secrets redacted there.
pub fn config(c: &Config) -> Reply {
    match serde_json::to_value(c) {
        Ok(v) => Reply::json(200, &v),
        // Only a path that is not UTF-8 (given by a flag: TOML text is UTF-8) fails.
        Err(e) => Reply::error(500, &format!("the config cannot be shown as JSON: {e}")),
    }
}
