//! `weir check`: validate like `nginx -t` and show what would run, on one screen.

use std::process::ExitCode;

use weir::config::duration::show;
use weir::config::{GroupConfig, TlsVersion};
use weir::plugin::{self, abi};
use weir::{Config, Proxy};

use super::out::say;
use super::{config_from, fail, ServeArgs};

pub fn run(a: &ServeArgs) -> ExitCode {
    let config = match config_from(a) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let chain = match Proxy::new(config.clone()).chain() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let t = &config.timeouts;
    let l = &config.limits;
    say!("{}: ok", config.source);
    print_listen(&config);
    if !print_tls(&config) {
        return ExitCode::FAILURE;
    }
    if let Some(a) = &config.admin {
        print_admin(a);
    }
    for group in config.upstream_groups().iter() {
        print_group(group, !config.groups.is_empty());
        if !print_upstream_tls(&config, group) {
            return ExitCode::FAILURE;
        }
    }
    print_routes(&config);
    let names: Vec<&str> = chain.iter().map(|m| m.name()).collect();
    say!("chain       {}", names.join(" → "));
    for path in config.middleware.iter().filter_map(|m| m.plugin.as_deref()) {
        // Already loaded (and checked) by `chain()`: this only looks the library up.
        if let Ok(lib) = plugin::load(path) {
            say!(
                "plugin      {}: \"{}\", ABI {}.{} (weir speaks {}.{})",
                path.display(),
                lib.name,
                lib.abi >> 16,
                lib.abi & 0xffff,
                abi::MAJOR,
                abi::MINOR
            );
        }
    }
    say!(
        "timeouts    header {}, idle {}, connect {}, upstream_read {}, client_body {}, drain {}, tunnel {}, plugin_check {}, upgrade {}",
        show(t.header),
        show(t.idle),
        show(t.connect),
        show(t.upstream_read),
        show(t.client_body),
        show(t.drain),
        show(t.tunnel),
        show(t.plugin_check),
        show(t.upgrade)
    );
    let body = match l.max_body_bytes {
        0 => "unlimited".to_string(),
        n => n.to_string(),
    };
    let backlog = match weir::rt::somaxconn() {
        Some(cap) if cap < l.listen_backlog => format!(
            "{} (capped at {cap} by net.core.somaxconn)",
            l.listen_backlog
        ),
        _ => l.listen_backlog.to_string(),
    };
    say!(
        "limits      max_header_bytes {}, max_headers {}, max_body_bytes {body}, max_connections {}, listen_backlog {backlog}",
        l.max_header_bytes, l.max_headers, l.max_connections
    );
    print_paths(l);
    print_http2(&config);
    let f = &config.forwarded;
    say!(
        "forwarded   for {}, proto {}, host {}",
        f.for_,
        f.proto,
        f.host
    );
    ExitCode::SUCCESS
}

/// The path rules, and a warning for each that leaves a spelling open: with `keep`, an
/// origin may read a path as another than the one routes and rules judged.
fn print_paths(l: &weir::config::Limits) {
    use weir::route::{AmbiguousSegments, EscapedSlashes};
    say!(
        "paths       escaped_slashes {}, ambiguous_segments {} (routes, middleware, plugins and the upstream see one normalised path)",
        l.escaped_slashes.as_str(),
        l.ambiguous_segments.as_str()
    );
    if l.escaped_slashes == EscapedSlashes::Keep {
        say!("warning     limits.escaped_slashes = \"keep\": %2F and %5C are forwarded as data; an origin that decodes them (nginx, Apache) reads /x/..%2Fadmin as /admin, past any rule on /admin");
    }
    if l.ambiguous_segments == AmbiguousSegments::Keep {
        say!("warning     limits.ambiguous_segments = \"keep\": Tomcat and Spring read /admin;x=1 and /x/..;/admin as /admin, IIS /admin. and /admin%20, past any rule on /admin");
    }
}

/// The listeners (with what routes may match on) and the executor threads.
fn print_listen(config: &Config) {
    let threads = match config.threads {
        0 => "one per CPU".to_string(),
        n => n.to_string(),
    };
    let addrs: Vec<String> = config.listen.iter().map(show_listener).collect();
    say!("listen      {} (threads: {threads})", addrs.join(", "));
}

/// The `[http2]` bounds, when a listener serves HTTP/2.
fn print_http2(config: &weir::Config) {
    if !config.listen.iter().any(|l| l.h2 || l.h2c) {
        return;
    }
    let h = &config.http2;
    say!(
        "http2       max_concurrent_streams {}; per {}: max_resets {}, max_control_frames {}, max_window_updates {}, max_empty_data {}",
        h.max_concurrent_streams,
        show(h.flood_window),
        h.max_resets,
        h.max_control_frames,
        h.max_window_updates,
        h.max_empty_data
    );
}

/// `127.0.0.1:8443 (TLS, h2, name public)`: the address, TLS and HTTP/2, and what
/// routes may match on.
fn show_listener(l: &weir::config::Listener) -> String {
    let tls = l.tls.as_ref().map(|_| "TLS".to_string());
    let name = l.name.as_ref().map(|n| format!("name {n}"));
    let http2 = l.http2().map(str::to_string);
    let notes: Vec<String> = [tls, http2, name].into_iter().flatten().collect();
    match notes.is_empty() {
        true => l.addr.to_string(),
        false => format!("{} ({})", l.addr, notes.join(", ")),
    }
}

/// The admin listener, who may use it, and a warning when it is open to the network.
fn print_admin(a: &weir::config::Admin) {
    let guard = if a.token.is_some() {
        "token"
    } else {
        "loopback, no token"
    };
    say!("admin       {} ({guard}; metrics counted)", a.listen);
    if !a.allowed_hosts.is_empty() {
        say!(
            "              Host names allowed: {}",
            a.allowed_hosts.join(", ")
        );
    }
    if !a.listen.ip().is_loopback() {
        say!(
            "warning     admin.listen {} is not loopback: anyone who reaches it may try the \
             token, and it crosses the network in plain HTTP; prefer loopback (an SSH tunnel \
             or a TLS proxy in front) or a firewall",
            a.listen
        );
    }
}

/// Days left under which a certificate's expiry is a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// Each TLS listener's certificates: file, names, issuer, expiry; a warning for one
/// that expires within 30 days. False (after an error line) when a listener's
/// certificates or keys cannot be loaded, as a start would fail.
fn print_tls(config: &Config) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let many = config.listen.len() > 1;
    for (i, l) in config.listen.iter().enumerate() {
        let Some(t) = &l.tls else { continue };
        let key = if many {
            format!("listen[{i}]")
        } else {
            "listen".into()
        };
        if let Err((k, why)) = weir::tls::check(t) {
            eprintln!("weir: {}: {key}.tls.{k}: {why}", config.source);
            return false;
        }
        let strict = if t.sni_strict { ", sni_strict" } else { "" };
        let min = match t.min_version {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        };
        let alpn = match l.h2 {
            true => "h2, http/1.1",
            false => "http/1.1",
        };
        say!(
            "tls         {}: TLS {min}+, ALPN {alpn}{strict}, {}",
            l.addr,
            weir::tls::PROVIDER
        );
        for (j, files) in t.certs.iter().enumerate() {
            let Ok(c) = weir::tls::cert::read(&files.cert) else {
                continue; // loaded just above
            };
            let default = if j == 0 && !t.sni_strict {
                " (default)"
            } else {
                ""
            };
            say!("cert        {}{default}", files.cert.display());
            say!("              names {}", c.names.join(", "));
            say!("              issuer {}", c.issuer);
            say!("              not after {}", c.not_after_text);
            let days = (c.not_after - now).div_euclid(86_400);
            if c.not_after <= now {
                say!("warning     {} has expired", files.cert.display());
            } else if days < EXPIRY_WARNING_DAYS {
                say!(
                    "warning     {} expires in {days} day(s)",
                    files.cert.display()
                );
            }
        }
    }
    true
}

/// A group's TLS to its servers, loaded as a start would; false (after an error line)
/// when its CA or client certificate cannot be used.
fn print_upstream_tls(config: &Config, g: &GroupConfig) -> bool {
    let Some(t) = &g.tls else { return true };
    let key = match config.groups.is_empty() {
        true => "upstream.tls".to_string(),
        false => format!("upstreams.{}.tls", g.name),
    };
    if let Err((k, why)) = weir::tls::check_upstream(t) {
        let k = if k.is_empty() {
            key
        } else {
            format!("{key}.{k}")
        };
        eprintln!("weir: {}: {k}: {why}", config.source);
        return false;
    }
    let sni = t.sni.as_deref().unwrap_or("the server's IP");
    let ca =
        t.ca.as_ref()
            .map_or("system store".into(), |p| p.display().to_string());
    let client = match &t.cert {
        Some(c) => format!(", client certificate {}", c.display()),
        None => String::new(),
    };
    say!("tls         to servers: SNI {sni}, CA {ca}{client}");
    if !t.verify {
        say!("warning     {key}: verify = false: the servers are not authenticated");
    }
    true
}

/// One upstream group: servers, balancer, pool, health and retries.
fn print_group(g: &GroupConfig, named: bool) {
    let title = match named {
        true => format!("upstream    {}: ", g.name),
        false => "upstream    ".to_string(),
    };
    say!(
        "{title}{} over {} server(s), protocol {}, keepalive {} per server for {}",
        g.balancer.as_str(),
        g.servers.len(),
        g.protocol.as_str(),
        g.keepalive,
        show(g.keepalive_timeout)
    );
    if let Some(every) = g.h2_ping_interval {
        let within = show(g.h2_ping_timeout);
        say!(
            "              PING every {}, closed if unanswered in {within}",
            show(every)
        );
    }
    for u in &g.servers {
        say!("              {}  weight {}", u.addr, u.weight);
    }
    for n in &g.names {
        let every = g.resolve.map(|r| r.describe()).unwrap_or_default();
        let (host, port, weight) = (&n.host, n.port, n.weight);
        match n.srv {
            true => {
                say!("              {host}  SRV, the records' weights, looked up {every}")
            }
            false => {
                say!("              {host}:{port}  weight {weight} each, looked up {every}")
            }
        }
    }
    if let Some(key) = &g.hash_key {
        say!("hash key    {key}");
    }
    let p = &g.passive;
    let retries = match g.retries {
        Some(n) => n.to_string(),
        None if !g.names.is_empty() => "one per other server listed at the time".into(),
        None => format!("{} (servers - 1)", g.retries()),
    };
    say!(
        "health      passive: {} failure(s) in {} (5xx counts: {}); retries {retries}",
        p.max_fails,
        show(p.fail_timeout),
        p.fail_on_5xx
    );
    if let Some(h) = g.health.as_ref().filter(|h| h.grpc_service.is_some()) {
        say!(
            "            active: {} every {}, timeout {}, down after {}, up after {}, healthy if SERVING",
            h.checks(),
            show(h.interval),
            show(h.timeout),
            h.fails,
            h.passes,
        );
    } else if let Some(h) = &g.health {
        say!(
            "            active: GET {} every {}, timeout {}, down after {}, up after {}, healthy {}",
            h.path,
            show(h.interval),
            show(h.timeout),
            h.fails,
            h.passes,
            h.expect_status
        );
    }
}

/// The routes in match order (the table's own listing), what each does, and warnings
/// for routes that can never match. Nothing when no `[[routes]]` are configured.
fn print_routes(config: &Config) {
    if config.routes.is_empty() {
        return;
    }
    let Ok((table, warnings)) = config.route_table() else {
        return; // validated already
    };
    say!("routes      in match order:");
    for line in table.describe().to_string().lines() {
        say!("              {line}");
    }
    for (i, r) in config.routes.iter().enumerate() {
        let strip = r
            .strip_prefix
            .as_deref()
            .map(|p| format!(", strip_prefix {p}"))
            .unwrap_or_default();
        let first = &config.upstream_groups()[0].name;
        let group = r.upstream.as_deref().unwrap_or(first);
        let name = r
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let chain = match r.middleware.is_empty() {
            true => String::new(),
            false => format!(", middleware {}", r.middleware.join(" → ")),
        };
        let redirect = match r.redirect.as_deref() {
            Some(to) => format!(", redirect plain HTTP to {to}"),
            None => String::new(),
        };
        say!("route       routes[{i}]{name} → {group}{redirect}{strip}{chain}");
    }
    for w in warnings {
        say!("warning     {w}");
    }
}
