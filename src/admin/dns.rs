//! DNS discovery as the API and the metrics show it: each name of a group, its
//! addresses in use, and its latest lookup's time and result.

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use serde_json::{json, Value};

use super::prom::{esc, head};
use crate::discovery::NameStatus;
use crate::engine::Engine;
use crate::upstream::group::Group;

fn names(g: &Group) -> Vec<NameStatus> {
    g.names.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn unix_seconds(n: &NameStatus) -> Option<f64> {
    let t = n.looked_up?.duration_since(UNIX_EPOCH).ok()?;
    Some(t.as_secs_f64())
}

/// The group's `names` in `/api/upstreams` (empty without `resolve`).
pub(super) fn json(g: &Group) -> Value {
    let one = |n: &NameStatus| {
        json!({
            "name": n.name(),
            "addresses": n.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "last_lookup_unix": unix_seconds(n),
            "result": n.result,
            "resolved": n.resolved,
        })
    };
    Value::Array(names(g).iter().map(one).collect())
}

/// One gauge's value for a name.
type Reading = fn(&NameStatus) -> f64;

/// `weir_upstream_dns_*`: per group and name, the addresses in use, whether the latest
/// lookup succeeded, and when it ended.
pub(super) fn prom(out: &mut String, e: &Engine) {
    let all: Vec<(String, NameStatus)> = (e.groups.iter())
        .flat_map(|g| names(g).into_iter().map(|n| (esc(g.name()), n)))
        .collect();
    if all.is_empty() {
        return;
    }
    let series: [(&str, &str, Reading); 3] = [
        (
            "weir_upstream_dns_addresses",
            "Addresses in use for the name (its last good answer).",
            |n| n.addrs.len() as f64,
        ),
        (
            "weir_upstream_dns_lookup_ok",
            "1 if the latest lookup of the name succeeded, else 0.",
            |n| f64::from(u8::from(n.looked_up.is_some() && !n.failing)),
        ),
        (
            "weir_upstream_dns_lookup_timestamp_seconds",
            "When the latest lookup of the name ended (Unix time; 0 before the first).",
            |n| unix_seconds(n).unwrap_or(0.0),
        ),
    ];
    for (name, help, value) in series {
        head(out, name, "gauge", help);
        for (group, n) in &all {
            let labels = format!("upstream=\"{group}\",name=\"{}\"", esc(&n.name()));
            let _ = writeln!(out, "{name}{{{labels}}} {}", value(n));
        }
    }
}
