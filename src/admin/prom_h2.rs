//! The HTTP/2 series of `/metrics`: connections and streams, open now and since start,
//! and the streams refused at `limits.max_streams`. Unlabelled, as the connection
//! series beside them are.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::prom::head;
use crate::metrics::Metrics;

/// Appends the h2 series to `out`.
pub(super) fn write(out: &mut String, m: &Metrics) {
    let h = &m.h2;
    let series = [
        (
            "weir_h2_connections_active",
            "gauge",
            "HTTP/2 client connections open now (also in weir_connections_active).",
            h.connections_active.load(Relaxed).max(0) as u64,
        ),
        (
            "weir_h2_connections_accepted_total",
            "counter",
            "HTTP/2 client connections that completed the h2 handshake.",
            h.connections_accepted.load(Relaxed),
        ),
        (
            "weir_h2_streams_active",
            "gauge",
            "HTTP/2 streams open now, each an exchange.",
            h.streams_active.load(Relaxed).max(0) as u64,
        ),
        (
            "weir_h2_streams_total",
            "counter",
            "HTTP/2 streams accepted for an exchange.",
            h.streams_total.load(Relaxed),
        ),
        (
            "weir_h2_streams_refused_total",
            "counter",
            "HTTP/2 streams refused with REFUSED_STREAM at limits.max_streams.",
            h.streams_refused.load(Relaxed),
        ),
    ];
    for (name, kind, help, n) in series {
        head(out, name, kind, help);
        let _ = writeln!(out, "{name} {n}");
    }
}
