//! The h2 upstream pool's series of `/metrics`, per server of each `h2`/`h2c` group:
//! connections and streams open now, connections opened, and closed by reason (a
//! GOAWAY, an unanswered PING, an error, or weir letting an idle one go).

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::prom::{esc, head};
use crate::engine::Engine;
use crate::metrics::h2upstream::{H2ServerStats, CLOSED};

type Read = fn(&H2ServerStats) -> u64;

/// Appends the series to `out` (nothing for a config without h2 groups' servers).
pub(super) fn write(out: &mut String, e: &Engine) {
    let servers = || {
        let h2 = e.groups.iter().filter(|g| g.config.protocol.is_h2());
        h2.flat_map(|g| {
            let shown = (0..g.upstreams.len()).filter(|&i| g.upstreams.shown(i));
            shown.map(move |i| {
                let labels = format!(
                    "upstream=\"{}\",server=\"{}\"",
                    esc(g.name()),
                    g.upstreams.addr(i)
                );
                (g.h2.stats(i), labels)
            })
        })
    };
    let plain: [(&str, &str, &str, Read); 3] = [
        (
            "weir_upstream_h2_connections",
            "gauge",
            "HTTP/2 connections open to the server now.",
            |s| s.connections.load(Relaxed).max(0) as u64,
        ),
        (
            "weir_upstream_h2_streams",
            "gauge",
            "Requests in flight on HTTP/2 connections to the server now.",
            |s| s.streams.load(Relaxed).max(0) as u64,
        ),
        (
            "weir_upstream_h2_connections_opened_total",
            "counter",
            "HTTP/2 connections opened to the server (handshake done).",
            |s| s.opened.load(Relaxed),
        ),
    ];
    for (name, kind, help, read) in plain {
        head(out, name, kind, help);
        for (s, labels) in servers() {
            let _ = writeln!(out, "{name}{{{labels}}} {}", read(s));
        }
    }
    let name = "weir_upstream_h2_connections_closed_total";
    let help = "HTTP/2 connections to the server closed, by reason: goaway (the server ended it), ping_timeout, error, idle (weir let it go).";
    head(out, name, "counter", help);
    for (s, labels) in servers() {
        for (reason, n) in CLOSED.iter().zip(&s.closed) {
            let n = n.load(Relaxed);
            let _ = writeln!(out, "{name}{{{labels},reason=\"{reason}\"}} {n}");
        }
    }
}
