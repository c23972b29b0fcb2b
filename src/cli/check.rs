//! `weir check`: validate like `nginx -t` and show what would run, on one screen.

use std::process::ExitCode;

use weir::config::duration::show;
use weir::plugin::{self, abi};
use weir::Proxy;

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
    println!(
        "upstream    {} over {} server(s), keepalive {} per server for {}",
        config.balancer.as_str(),
        config.upstreams.len(),
        config.keepalive,
        show(config.keepalive_timeout)
    );
    for u in &config.upstreams {
        println!("              {}  weight {}", u.addr, u.weight);
    }
    if let Some(key) = &config.hash_key {
        println!("hash key    {key}");
    }
    let p = &config.passive;
    let retries = match config.retries {
        Some(n) => n.to_string(),
        None => format!("{} (servers - 1)", config.upstreams.len().saturating_sub(1)),
    };
    println!(
        "health      passive: {} failure(s) in {} (5xx counts: {}); retries {retries}",
        p.max_fails,
        show(p.fail_timeout),
        p.fail_on_5xx
    );
    if let Some(h) = &config.health {
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
