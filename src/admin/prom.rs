//! The Prometheus text exposition format, version 0.0.4, written by hand: a few dozen
//! lines do what a client library would, and keep the hot path free of its registry.
//!
//! Labels are only names from the config (routes, groups), server addresses from the
//! config, status classes and fixed words: never a request path or a client address,
//! so the number of series is bounded by the config.
//!
//! It lives with the admin listener, its only reader, beside the JSON of [`super::api`]:
//! `metrics` only counts, and so depends on neither the engine nor the groups it is
//! read from.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::engine::Engine;
use crate::exchange::cause::Cause;
use crate::metrics::group::REASONS;
use crate::metrics::histogram::{Snapshot, BOUNDS_US};
use crate::metrics::{Metrics, CLASS_NAMES};
use crate::upstream::group::Group;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value (backslash, quote, newline).
pub(super) fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn histogram(out: &mut String, name: &str, labels: &str, s: &Snapshot) {
    let mut cumulative = 0;
    for (i, n) in s.buckets.iter().enumerate() {
        cumulative += n;
        let le = BOUNDS_US.get(i).map_or("+Inf".to_string(), |&b| seconds(b));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", seconds(s.sum_us));
    let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
}

/// The whole exposition for the engine in force.
pub fn render(e: &Engine) -> String {
    let m = &e.stats.metrics;
    let mut out = String::with_capacity(8192);
    head(
        &mut out,
        "weir_build_info",
        "gauge",
        "weir's version; always 1.",
    );
    let _ = writeln!(
        out,
        "weir_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    head(
        &mut out,
        "weir_start_time_seconds",
        "gauge",
        "When weir started, in seconds since the Unix epoch.",
    );
    let start = m
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let _ = writeln!(out, "weir_start_time_seconds {}", start.as_secs());

    let mut routes = m.routes();
    routes.insert(0, ("-".into(), "-".into(), m.unrouted.clone()));
    head(
        &mut out,
        "weir_requests_total",
        "counter",
        "Requests answered, by route, upstream group and status class; route=\"-\" for those refused before routing.",
    );
    for (route, group, s) in &routes {
        for (c, n) in CLASS_NAMES.iter().zip(&s.requests) {
            let _ = writeln!(
                out,
                "weir_requests_total{{route=\"{}\",upstream=\"{}\",code_class=\"{c}\"}} {}",
                esc(route),
                esc(group),
                n.load(Relaxed)
            );
        }
    }
    head(
        &mut out,
        "weir_request_duration_seconds",
        "histogram",
        "From a complete request head to the end of the response, by route.",
    );
    for (route, group, s) in &routes {
        let labels = format!("route=\"{}\",upstream=\"{}\"", esc(route), esc(group));
        histogram(
            &mut out,
            "weir_request_duration_seconds",
            &labels,
            &s.duration.snapshot(),
        );
    }

    upstreams(&mut out, e);
    super::dns::prom(&mut out, e);

    head(
        &mut out,
        "weir_upstream_connect_errors_total",
        "counter",
        "Upstream connects that failed (refused, timed out, or no local resources).",
    );
    let _ = writeln!(
        out,
        "weir_upstream_connect_errors_total {}",
        m.connect_errors.load(Relaxed)
    );
    head(
        &mut out,
        "weir_upstream_local_shortage_total",
        "counter",
        "Upstream connects refused for want of local file descriptors, ports or buffers.",
    );
    let _ = writeln!(
        out,
        "weir_upstream_local_shortage_total {}",
        e.shortage.count()
    );
    head(
        &mut out,
        "weir_body_bytes_spliced_total",
        "counter",
        "Body bytes moved socket to socket by splice(2), never copied through weir (process-wide).",
    );
    let _ = writeln!(
        out,
        "weir_body_bytes_spliced_total {}",
        crate::http::splice::spliced_bytes()
    );
    head(
        &mut out,
        "weir_grpc_calls_total",
        "counter",
        "gRPC calls (content-type application/grpc*) by the grpc-status their client got.",
    );
    for (code, n) in crate::metrics::GRPC_CODES.iter().zip(m.grpc_calls()) {
        let _ = writeln!(out, "weir_grpc_calls_total{{code=\"{code}\"}} {n}");
    }
    head(
        &mut out,
        "weir_retries_total",
        "counter",
        "Failed upstream attempts retried on another server, by cause.",
    );
    for (cause, n) in Cause::ALL.iter().zip(m.retries()) {
        let cause = cause.as_str();
        let _ = writeln!(out, "weir_retries_total{{cause=\"{cause}\"}} {n}");
    }
    head(
        &mut out,
        "weir_connections_active",
        "gauge",
        "Client connections open now.",
    );
    let _ = writeln!(
        out,
        "weir_connections_active {}",
        m.connections_active.load(Relaxed)
    );
    head(
        &mut out,
        "weir_connections_accepted_total",
        "counter",
        "Client connections accepted.",
    );
    let _ = writeln!(
        out,
        "weir_connections_accepted_total {}",
        m.connections_accepted.load(Relaxed)
    );
    write_accepted_by_thread(&mut out, m);
    super::prom_h2::write(&mut out, m);
    head(
        &mut out,
        "weir_client_errors_total",
        "counter",
        "Bad requests weir refused itself, by the status it answered (400, 408, 413, 414, 431, ...).",
    );
    for (status, n) in m.client_errors() {
        let _ = writeln!(out, "weir_client_errors_total{{status=\"{status}\"}} {n}");
    }
    head(
        &mut out,
        "weir_config_reloads_total",
        "counter",
        "Config reloads (SIGHUP or the API), by result.",
    );
    let ok = m.reloads_ok.load(Relaxed);
    let failed = m.reloads_failed.load(Relaxed);
    let _ = writeln!(out, "weir_config_reloads_total{{result=\"ok\"}} {ok}");
    let _ = writeln!(
        out,
        "weir_config_reloads_total{{result=\"error\"}} {failed}"
    );
    head(
        &mut out,
        "weir_tls_handshake_failures_total",
        "counter",
        "Client TLS handshakes that failed, by reason (timeout, no_sni_match, protocol, client_alert, client_certificate, plain_http, closed, other).",
    );
    for (reason, n) in e.handshakes.by_reason() {
        let _ = writeln!(
            out,
            "weir_tls_handshake_failures_total{{reason=\"{reason}\"}} {n}"
        );
    }
    head(
        &mut out,
        "weir_proxy_protocol_rejected_total",
        "counter",
        "Connections to a proxy_protocol listener closed before a request, by reason (untrusted, missing, malformed, too_long, version, timeout, closed).",
    );
    for (reason, n) in e.proxy_rejects.by_reason() {
        let _ = writeln!(
            out,
            "weir_proxy_protocol_rejected_total{{reason=\"{reason}\"}} {n}"
        );
    }
    head(
        &mut out,
        "weir_h2_guard_closes_total",
        "counter",
        "HTTP/2 client connections closed by GOAWAY for a frame flood past its [http2] bound, by frame kind, or for a header block unfinished past timeouts.header (slow_headers).",
    );
    let closes = e.stats.metrics.h2_guard_closes.iter();
    for (kind, n) in crate::metrics::H2_GUARD_KINDS.iter().zip(closes) {
        let n = n.load(Relaxed);
        let _ = writeln!(out, "weir_h2_guard_closes_total{{kind=\"{kind}\"}} {n}");
    }
    cert_expiry(&mut out, e);
    out
}

/// When each listener certificate expires, so an alert can fire weeks ahead.
fn cert_expiry(out: &mut String, e: &Engine) {
    if e.cert_expiry.is_empty() {
        return;
    }
    let name = "weir_tls_certificate_expiry_timestamp_seconds";
    let help = "When each listener certificate in force expires (its not-after), in seconds since the Unix epoch.";
    head(out, name, "gauge", help);
    for c in &e.cert_expiry {
        let (listener, cert) = (c.listener, esc(&c.cert));
        let _ = writeln!(
            out,
            "{name}{{listener=\"{listener}\",cert=\"{cert}\"}} {}",
            c.not_after
        );
    }
}

/// A per-server gauge read from the group at scrape time.
type Gauge = fn(&Group, usize, Instant) -> u64;

/// The per group and per server series, from the engine's groups.
fn upstreams(out: &mut String, e: &Engine) {
    let now = Instant::now();
    let servers = || {
        e.groups.iter().flat_map(|g| {
            let shown = (0..g.upstreams.len()).filter(|&i| g.upstreams.shown(i));
            shown.map(move |i| {
                let labels = format!(
                    "upstream=\"{}\",server=\"{}\"",
                    esc(g.name()),
                    g.upstreams.addr(i)
                );
                (g, i, labels)
            })
        })
    };
    head(
        out,
        "weir_upstream_response_seconds",
        "histogram",
        "From the start of an upstream attempt to its response head, by upstream group.",
    );
    for g in &e.groups {
        let labels = format!("upstream=\"{}\"", esc(g.name()));
        let s = g.stats.response.snapshot();
        histogram(out, "weir_upstream_response_seconds", &labels, &s);
    }
    head(
        out,
        "weir_upstream_requests_total",
        "counter",
        "Response heads received from each server, by status class.",
    );
    for (g, i, labels) in servers() {
        let s = g.stats.server(i);
        for (c, n) in CLASS_NAMES.iter().zip(&s.responses) {
            let _ = writeln!(
                out,
                "weir_upstream_requests_total{{{labels},code_class=\"{c}\"}} {}",
                n.load(Relaxed)
            );
        }
    }
    head(
        out,
        "weir_upstream_errors_total",
        "counter",
        "Attempts on each server that failed (connect, reset, timeout, bad response).",
    );
    for (g, i, labels) in servers() {
        let n = g.stats.server(i).errors.load(Relaxed);
        let _ = writeln!(out, "weir_upstream_errors_total{{{labels}}} {n}");
    }
    head(
        out,
        "weir_upstream_picks_total",
        "counter",
        "Times the balancer picked each server, by its reason.",
    );
    for (g, i, labels) in servers() {
        let s = g.stats.server(i);
        for (r, n) in REASONS.iter().zip(&s.picks) {
            let _ = writeln!(
                out,
                "weir_upstream_picks_total{{{labels},reason=\"{r}\"}} {}",
                n.load(Relaxed)
            );
        }
    }
    let gauges: [(&str, &str, Gauge); 4] = [
        (
            "weir_upstream_server_up",
            "1 while passive and active health let the server take requests.",
            |g, i, now| u64::from(g.upstreams.state(i).is_up(now)),
        ),
        (
            "weir_upstream_server_drained",
            "1 while the server is drained through the API (no new requests).",
            |g, i, _| u64::from(g.upstreams.state(i).is_drained()),
        ),
        (
            "weir_upstream_in_flight",
            "Requests using the server now.",
            |g, i, _| u64::from(g.upstreams.state(i).in_flight()),
        ),
        (
            "weir_pool_idle_connections",
            "Idle keep-alive connections kept to the server.",
            |g, i, _| g.pool.idle(i) as u64,
        ),
    ];
    for (name, help, value) in gauges {
        head(out, name, "gauge", help);
        for (g, i, labels) in servers() {
            let _ = writeln!(out, "{name}{{{labels}}} {}", value(g, i, now));
        }
    }
    head(
        out,
        "weir_pool_connections_opened_total",
        "counter",
        "Upstream connections opened, by upstream group.",
    );
    for g in &e.groups {
        let _ = writeln!(
            out,
            "weir_pool_connections_opened_total{{upstream=\"{}\"}} {}",
            esc(g.name()),
            g.pool.opened()
        );
    }
    super::prom_h2pool::write(out, e);
}

/// Accepts per thread, when each thread has a listening socket of its own (`threads`
/// above 1 on the default runtime): how evenly the kernel spreads new connections.
/// Absent with one shared socket, where the accepting thread is not known.
fn write_accepted_by_thread(out: &mut String, m: &Metrics) {
    let counted = m.accepted_by_thread.iter().map(|n| n.load(Relaxed));
    let counted: Vec<(usize, u64)> = counted.enumerate().filter(|&(_, n)| n > 0).collect();
    if counted.is_empty() {
        return;
    }
    head(
        out,
        "weir_connections_accepted_by_thread_total",
        "counter",
        "Client connections accepted by each thread's own listening socket (SO_REUSEPORT).",
    );
    for (thread, n) in counted {
        let _ = writeln!(
            out,
            "weir_connections_accepted_by_thread_total{{thread=\"{thread}\"}} {n}"
        );
    }
}
