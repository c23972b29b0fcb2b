//! `weir check`: validate like `nginx -t` and show what would run, on one screen.

use std::process::ExitCode;

use weir::config::duration::show;
use weir::config::GroupConfig;
use weir::plugin::{self, abi};
use weir::route::Table;
use weir::{Config, Proxy};

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
    println!("{}: ok", config.source);
    let threads = match config.threads {
        0 => "one per CPU".to_string(),
        n => n.to_string(),
    };
    println!("listen      {} (threads: {threads})", config.listen);
    if let Some(a) = &config.admin {
        let guard = if a.token.is_some() {
            "token"
        } else {
            "loopback, no token"
        };
        println!("admin       {} ({guard}; metrics counted)", a.listen);
    }
    for group in config.upstream_groups().iter() {
        print_group(group, !config.groups.is_empty());
    }
    print_routes(&config);
    let names: Vec<&str> = chain.iter().map(|m| m.name()).collect();
    println!("chain       {}", names.join(" → "));
    for path in config.middleware.iter().filter_map(|m| m.plugin.as_deref()) {
        // Already loaded (and checked) by `chain()`: this only looks the library up.
        if let Ok(lib) = plugin::load(path) {
            println!(
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
    println!(
        "timeouts    header {}, idle {}, connect {}, upstream_read {}, client_body {}, drain {}, tunnel {}, plugin_check {}",
        show(t.header),
        show(t.idle),
        show(t.connect),
        show(t.upstream_read),
        show(t.client_body),
        show(t.drain),
        show(t.tunnel),
        show(t.plugin_check)
    );
    let body = match l.max_body_bytes {
        0 => "unlimited".to_string(),
        n => n.to_string(),
    };
    println!(
        "limits      max_header_bytes {}, max_headers {}, max_body_bytes {body}, max_connections {}",
        l.max_header_bytes, l.max_headers, l.max_connections
    );
    let f = &config.forwarded;
    println!(
        "forwarded   for {}, proto {}, host {}",
        f.for_, f.proto, f.host
    );
    ExitCode::SUCCESS
}

/// One upstream group: servers, balancer, pool, health and retries.
fn print_group(g: &GroupConfig, named: bool) {
    let title = match named {
        true => format!("upstream    {}: ", g.name),
        false => "upstream    ".to_string(),
    };
    println!(
        "{title}{} over {} server(s), keepalive {} per server for {}",
        g.balancer.as_str(),
        g.servers.len(),
        g.keepalive,
        show(g.keepalive_timeout)
    );
    for u in &g.servers {
        println!("              {}  weight {}", u.addr, u.weight);
    }
    if let Some(key) = &g.hash_key {
        println!("hash key    {key}");
    }
    let p = &g.passive;
    let retries = match g.retries {
        Some(n) => n.to_string(),
        None => format!("{} (servers - 1)", g.retries()),
    };
    println!(
        "health      passive: {} failure(s) in {} (5xx counts: {}); retries {retries}",
        p.max_fails,
        show(p.fail_timeout),
        p.fail_on_5xx
    );
    if let Some(h) = &g.health {
        println!(
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
    let Ok((table, warnings)) = Table::build(&config.route_specs()) else {
        return; // validated already
    };
    println!("routes      in match order:");
    for line in table.describe().to_string().lines() {
        println!("              {line}");
    }
    for (i, r) in config.routes.iter().enumerate() {
        let strip = r
            .strip_prefix
            .as_deref()
            .map(|p| format!(", strip_prefix {p}"))
            .unwrap_or_default();
        let first = &config.upstream_groups()[0].name;
        let group = r.upstream.as_deref().unwrap_or(first);
        println!(
            "route       routes[{i}] {} → {group}{strip}",
            r.display_name(i)
        );
    }
    for w in warnings {
        println!("warning     {w}");
    }
}
