//! `weir check`: validate like `nginx -t` and show what would run, on one screen.

use std::process::ExitCode;

use weir::config::duration::show;
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
    let names: Vec<&str> = chain.iter().map(|m| m.name()).collect();
    println!("chain       {}", names.join(" → "));
    println!(
        "timeouts    header {}, idle {}, connect {}, upstream_read {}, client_body {}, drain {}",
        show(t.header),
        show(t.idle),
        show(t.connect),
        show(t.upstream_read),
        show(t.client_body),
        show(t.drain)
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
