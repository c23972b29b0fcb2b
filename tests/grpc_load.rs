//! gRPC under load with real `grpcio` clients and servers (tests/grpc/load.py, one
//! server per process): 2,000 unary calls over 4 client connections with 16 callers
//! through weir to an h2c group of three servers, while one server is stopped
//! gracefully (GOAWAY: no call fails), or SIGKILLed (only calls in flight on it may
//! fail, as UNAVAILABLE; passive health marks it), or while weir reloads its config
//! five times (no call fails, the group's pool is kept).

mod util;

#[path = "grpc/load.rs"]
mod load;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use load::{Load, Outcome, Server};
use weir::{Config, Proxy};

const CALLS: usize = 2000;
const CHANNELS: usize = 4;
const THREADS: usize = 4;
/// Calls in flight at once: each caller waits for its answer before its next call.
const CONCURRENCY: usize = CHANNELS * THREADS;

/// Three servers, `s0`, `s1`, `s2`.
fn servers() -> Vec<Server> {
    (0..3).map(|i| Server::start(&format!("s{i}"))).collect()
}

/// weir with an h2c listener and an admin listener, routing `/weir.Load/` to the h2c
/// group of `servers` (round-robin, a failure takes a server out for 60 s); `extra`
/// is appended (a route that changes between reloads).
fn config_text(servers: &[Server], extra: &str) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("\"{}\"", s.addr)).collect();
    format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
threads = 2
[admin]
listen = "127.0.0.1:0"
[[middleware]]
builtin = "balancer"
[upstreams.grpc]
servers = [{}]
protocol = "h2c"
fail_timeout = "60s"
[[routes]]
path = "/weir.Load/"
upstream = "grpc"
{extra}
"#,
        servers.join(", ")
    )
}

fn parse(text: &str) -> Config {
    Config::parse(text, "grpc_load.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every server's own count of the calls it served, in order.
fn served(servers: Vec<Server>) -> Vec<usize> {
    servers.into_iter().map(Server::finish).collect()
}

/// The client's replies from `s0`, `s1` and `s2`.
fn replies(outcome: &Outcome) -> [usize; 3] {
    ["s0", "s1", "s2"].map(|name| outcome.who.get(name).copied().unwrap_or(0))
}

#[test]
fn an_upstream_stopped_gracefully_mid_load_fails_no_call() {
    let mut servers = servers();
    let proxy = util::start(parse(&config_text(&servers, "")));
    let load = Load::start(&proxy.addr.to_string(), CALLS, CHANNELS, THREADS);
    load.wait_for_calls(600);
    servers[1].stop_gracefully(5);
    servers[1].wait_stopped();
    let outcome = load.finish();
    eprintln!("{outcome:?}");

    assert_eq!((outcome.ok, outcome.failed), (CALLS, 0), "{outcome:?}");
    // s1 served about a third of the first 600 calls and none after its stop; the
    // others took the rest.
    let [s0, s1, s2] = replies(&outcome);
    assert!(s1 + 300 < s0.min(s2), "{outcome:?}");
    // Every call ran exactly once: no stream GOAWAY'd after s1 processed it was
    // replayed (the servers' own counts add up to the client's), and each server's
    // count is the client's.
    assert_eq!(served(servers), vec![s0, s1, s2], "{outcome:?}");
}

#[test]
fn an_upstream_killed_mid_load_fails_only_calls_in_flight_on_it() {
    let mut servers = servers();
    let killed = servers[1].addr.clone();
    let proxy = util::start(parse(&config_text(&servers, "")));
    let load = Load::start(&proxy.addr.to_string(), CALLS, CHANNELS, THREADS);
    load.wait_for_calls(600);
    servers[1].kill();
    let outcome = load.finish();
    eprintln!("{outcome:?}");

    // A call in flight on s1 when it died is lost with its connection: weir cannot
    // know whether s1 ran it, so a POST is not replayed (RFC 9113 §8.7 allows it only
    // for streams the server did not process) and the client gets UNAVAILABLE. Each
    // caller has one call in flight, so at most CONCURRENCY calls fail (about a third
    // of them with round-robin). Calls balanced to s1 after the kill find its port
    // closed, a connect failure, retried on another server: they do not fail.
    assert_eq!(outcome.ok + outcome.failed, CALLS, "{outcome:?}");
    assert!(outcome.failed <= CONCURRENCY, "{outcome:?}");
    for (code, _, details) in &outcome.failures {
        assert_eq!(code, "UNAVAILABLE", "{details}: {outcome:?}");
    }
    let [s0, s1, s2] = replies(&outcome);
    assert!(s1 + 300 < s0.min(s2), "{outcome:?}");

    // Passive health took s1 out (one failure within fail_timeout).
    let admin = proxy.admin.unwrap();
    let up = format!("weir_upstream_server_up{{upstream=\"grpc\",server=\"{killed}\"}}");
    let text = util::admin::wait_for(admin, &up, 0.0, Duration::from_secs(10));
    assert_eq!(util::admin::value(&text, &up), Some(0.0), "{text}");
    let survivors: Vec<Server> = servers.into_iter().filter(|s| s.addr != killed).collect();
    assert_eq!(served(survivors), vec![s0, s2], "{outcome:?}");
}

#[test]
fn reloads_under_grpc_load_fail_no_call_and_keep_the_pool() {
    let servers = servers();
    let generation = Arc::new(AtomicUsize::new(0));
    let source = {
        let text = config_text(&servers, "");
        let generation = generation.clone();
        // Each generation adds a route of its own and keeps the group as it was.
        move || {
            let g = generation.load(Ordering::SeqCst);
            let route = format!("[[routes]]\npath = \"/generation{g}/\"\nupstream = \"grpc\"\n");
            Ok(parse(&format!("{text}{route}")))
        }
    };
    let server = Proxy::new(source().unwrap())
        .handle_signals(false)
        .reload_from(source)
        .bind()
        .unwrap();
    let (addr, admin, handle) = (server.local_addr(), server.admin_addr(), server.handle());
    let runner = std::thread::spawn(move || server.run());

    let load = Load::start(&addr.to_string(), CALLS, CHANNELS, THREADS);
    let reloads = "weir_config_reloads_total{result=\"ok\"}";
    for g in 1..=5 {
        load.wait_for_calls(300 * g);
        generation.store(g, Ordering::SeqCst);
        handle.reload();
        // The reload is in force before the load goes on to the next one.
        let text =
            util::admin::wait_for(admin.unwrap(), reloads, g as f64, Duration::from_secs(10));
        assert_eq!(util::admin::value(&text, reloads), Some(g as f64), "{text}");
    }
    let outcome = load.finish();
    eprintln!("{outcome:?}");

    assert_eq!((outcome.ok, outcome.failed), (CALLS, 0), "{outcome:?}");
    assert!(outcome.who.values().all(|&n| n > 500), "{outcome:?}");
    // The group was kept with its pools: one connection per server, not one per
    // server per generation.
    let opened = handle.upstream_connections_opened();
    eprintln!("upstream connections opened: {opened}");
    assert!(opened <= 3, "{opened} upstream connections for 3 servers");
    handle.stop();
    runner.join().unwrap().unwrap();
    assert_eq!(served(servers).iter().sum::<usize>(), CALLS);
}
