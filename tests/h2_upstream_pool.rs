//! The h2 upstream pool in operation. PING keep-alive (`h2_ping_interval`,
//! `h2_ping_timeout`) through a TCP relay the test freezes (tests/util/relay.rs) in
//! front of a real h2 origin: a connection whose PINGs go unanswered is closed within
//! interval + timeout, fails the request on it, counts a passive failure and a
//! `ping_timeout` close; an answering origin's idle connection survives many PINGs and
//! is reused; config errors name the key. The pool's series in `/metrics` (checked by
//! promtool) and `/api/upstreams`: streams in flight, connections closed for GOAWAY
//! and for idling.

mod util;

use std::time::{Duration, Instant};

use util::admin::{scrape, value, wait_for};
use util::client::{self, Conn};
use util::h2origin::{self, Behaviour};
use util::relay;
use util::wait::{wait_until, WAIT};
use weir::config::UpstreamProtocol;
use weir::Config;

/// An h2c group over `relay` with PINGs every `every`, answered within `within`, and
/// the admin listener.
fn config(relay: std::net::SocketAddr, every: Duration, within: Duration) -> Config {
    let mut config = util::admin::config(&[relay]);
    config.upstream.protocol = UpstreamProtocol::H2c;
    config.upstream.h2_ping_interval = Some(every);
    config.upstream.h2_ping_timeout = within;
    config
}

fn series(name: &str, server: std::net::SocketAddr, extra: &str) -> String {
    format!("{name}{{upstream=\"default\",server=\"{server}\"{extra}}}")
}

#[test]
fn a_connection_that_stops_answering_pings_is_closed_and_its_server_fails() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let relay = relay::start(origin.addr);
    let every = Duration::from_millis(200);
    let within = Duration::from_millis(300);
    let proxy = util::start(config(relay.addr, every, within));
    let admin = proxy.admin.unwrap();
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    let open = series("weir_upstream_h2_connections", relay.addr, "");
    assert_eq!(value(&scrape(admin), &open), Some(1.0));

    // The origin goes silent: the request in flight gets no answer, and neither do
    // the PINGs. weir closes the connection and fails the request long before the
    // read timeout (60 s).
    relay.freeze();
    let asked = Instant::now();
    let r = c.roundtrip(&client::get("/"));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );

    let closed = series(
        "weir_upstream_h2_connections_closed_total",
        relay.addr,
        ",reason=\"ping_timeout\"",
    );
    // The request went on the pooled connection; weir resends a request that failed
    // on a reused connection once, on a new one, which the frozen relay silences too.
    let text = wait_for(admin, &open, 0.0, Duration::from_secs(10));
    assert_eq!(value(&text, &open), Some(0.0), "{text}");
    let timeouts = value(&text, &closed).unwrap_or_default();
    assert!((1.0..=2.0).contains(&timeouts), "{text}");
    let up = series("weir_upstream_server_up", relay.addr, "");
    assert_eq!(value(&text, &up), Some(0.0), "passive failure: {text}");

    // The origin answers again: the next request goes on a new connection (the only
    // server is down, so weir fails open to it).
    let before = relay.connections();
    relay.thaw();
    let r = Conn::open(proxy.addr).roundtrip(&client::get("/"));
    assert_eq!((r.status, r.text().as_str()), (200, "o1"));
    assert_eq!(relay.connections(), before + 1);
}

#[test]
fn an_idle_connection_that_answers_pings_is_kept_and_reused() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let relay = relay::start(origin.addr);
    let every = Duration::from_millis(50);
    let proxy = util::start(config(relay.addr, every, Duration::from_secs(2)));
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    // Several PINGs on the idle connection, each answered.
    wait_until(WAIT, "weir PINGs the idle connection 6 times", || {
        relay.pings() >= 6
    });
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    assert_eq!(origin.connections(), 1, "the idle connection was reused");
    let text = scrape(proxy.admin.unwrap());
    let closed = |why: &str| {
        let reason = format!(",reason=\"{why}\"");
        let name = "weir_upstream_h2_connections_closed_total";
        value(&text, &series(name, relay.addr, &reason))
    };
    assert_eq!(closed("ping_timeout"), Some(0.0), "{text}");
    assert_eq!(closed("error"), Some(0.0), "{text}");
    let opened = series("weir_upstream_h2_connections_opened_total", relay.addr, "");
    assert_eq!(value(&text, &opened), Some(1.0), "{text}");
    util::admin::promtool_accepts(text.as_bytes(), "h2 pool series");
    let api = util::admin::json(proxy.admin.unwrap(), "/api/upstreams");
    let h2 = &api["groups"][0]["servers"][0]["h2"];
    assert_eq!(h2["connections"], 1, "{api}");
    assert_eq!(h2["streams"], 0, "{api}");
}

#[test]
fn without_the_key_no_pings_are_sent() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let relay = relay::start(origin.addr);
    let mut config = util::config(&[relay.addr]);
    config.upstream.protocol = UpstreamProtocol::H2c;
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    // Two requests apart: a PING sent in between would be counted before the second
    // one's HEADERS, which the origin's count of requests proves arrived.
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    assert_eq!(origin.requests(), 2);
    assert_eq!(relay.pings(), 0);
}

#[test]
fn ping_keys_are_checked_and_named() {
    let cases = [
        (
            "h2_ping_interval = \"5s\"\n",
            "upstreams.g.h2_ping_interval: is for protocol = \"h2\" or \"h2c\" groups",
        ),
        (
            "protocol = \"h2c\"\nh2_ping_interval = \"0s\"\n",
            "upstreams.g.h2_ping_interval: must be more than 0s",
        ),
        (
            "protocol = \"h2c\"\nh2_ping_timeout = \"soon\"\n",
            "upstreams.g.h2_ping_timeout: invalid duration",
        ),
    ];
    for (keys, want) in cases {
        let text = format!("[upstreams.g]\nservers = [\"127.0.0.1:1\"]\n{keys}");
        let err = Config::parse(&text, "ping.toml").unwrap_err().to_string();
        assert!(err.contains(want), "{err}\nwant: {want}");
        assert!(err.contains("ping.toml"), "{err}");
    }
    let text = "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h2c\"\nh2_ping_interval = \"30s\"\nh2_ping_timeout = \"5s\"\n";
    let c = Config::parse(text, "ping.toml").unwrap();
    assert_eq!(c.groups[0].h2_ping_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.groups[0].h2_ping_timeout, Duration::from_secs(5));
}

/// An h2c group over `origins` with the admin listener.
fn pool_config(origins: &[std::net::SocketAddr]) -> Config {
    let mut config = util::admin::config(origins);
    config.upstream.protocol = UpstreamProtocol::H2c;
    config
}

#[test]
fn streams_in_flight_are_counted_while_the_origin_holds_them() {
    let origin = h2origin::h2c("o1", Behaviour::Hold(5));
    let proxy = util::start(pool_config(&[origin.addr]));
    let admin = proxy.admin.unwrap();
    let mut held: Vec<Conn> = (0..4).map(|_| Conn::open(proxy.addr)).collect();
    for c in &mut held {
        c.send(&client::get("/"));
    }
    let streams = series("weir_upstream_h2_streams", origin.addr, "");
    let text = wait_for(admin, &streams, 4.0, Duration::from_secs(10));
    assert_eq!(value(&text, &streams), Some(4.0), "{text}");
    let open = series("weir_upstream_h2_connections", origin.addr, "");
    assert_eq!(value(&text, &open), Some(1.0), "{text}");
    // The fifth request lets the origin answer them all.
    assert_eq!(
        Conn::open(proxy.addr).roundtrip(&client::get("/")).status,
        200
    );
    for c in &mut held {
        assert_eq!(c.read(false).map(|r| r.status), Some(200));
    }
    let text = wait_for(admin, &streams, 0.0, Duration::from_secs(10));
    assert_eq!(value(&text, &streams), Some(0.0), "{text}");
}

#[test]
fn connections_closed_by_goaway_and_by_idling_are_counted_by_reason() {
    let leaving = h2origin::h2c("o1", Behaviour::GoAwayAfterOne);
    let idle = h2origin::h2c("o2", Behaviour::Serve);
    let mut config = pool_config(&[leaving.addr, idle.addr]);
    config.upstream.keepalive_timeout = Duration::from_millis(100);
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let mut c = Conn::open(proxy.addr);
    // Round-robin: one request to each.
    assert_eq!(c.roundtrip(&client::get("/")).text(), "o1");
    assert_eq!(c.roundtrip(&client::get("/")).text(), "o2");
    let closed = |server, why: &str| {
        let reason = format!(",reason=\"{why}\"");
        series("weir_upstream_h2_connections_closed_total", server, &reason)
    };
    // The test origin closes its socket right after the GOAWAY; when a frame of weir's
    // (a SETTINGS ack, a WINDOW_UPDATE) reaches it unread, its kernel answers with a
    // reset, which reaches weir as a connection error: about one run in ten under
    // load. Either way the close is counted once, and never as idle or a PING timeout.
    let gone = series("weir_upstream_h2_connections", leaving.addr, "");
    let text = wait_for(admin, &gone, 0.0, Duration::from_secs(10));
    let count = |why| value(&text, &closed(leaving.addr, why));
    let ended = count("goaway").unwrap_or_default() + count("error").unwrap_or_default();
    assert_eq!(ended, 1.0, "{text}");
    assert_eq!(count("idle"), Some(0.0), "{text}");
    let idled = closed(idle.addr, "idle");
    let text = wait_for(admin, &idled, 1.0, Duration::from_secs(10));
    assert_eq!(value(&text, &idled), Some(1.0), "{text}");
    for server in [leaving.addr, idle.addr] {
        let open = series("weir_upstream_h2_connections", server, "");
        let opened = series("weir_upstream_h2_connections_opened_total", server, "");
        assert_eq!(value(&text, &open), Some(0.0), "{text}");
        assert_eq!(value(&text, &opened), Some(1.0), "{text}");
        let timeouts = closed(server, "ping_timeout");
        assert_eq!(value(&text, &timeouts), Some(0.0), "{text}");
    }
    util::admin::promtool_accepts(text.as_bytes(), "h2 pool series");
}

#[test]
fn weir_check_shows_the_pings_and_the_grpc_check_and_refuses_them_on_http1() {
    let text = "[upstreams.grpc]\nservers = [\"127.0.0.1:50051\"]\nprotocol = \"h2c\"\n\
                h2_ping_interval = \"5m\"\nhealth = { grpc_service = \"pkg.Svc\" }\n\
                [[routes]]\nupstream = \"grpc\"\n";
    let path = util::bin::write_config("h2-pool-check.toml", text);
    let out = util::bin::run(&["check", "--config", &path]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        said.contains("PING every 5m, closed if unanswered in 20s"),
        "{said}"
    );
    assert!(
        said.contains("active: grpc.health.v1.Health/Check \"pkg.Svc\" every 5s"),
        "{said}"
    );
    let http1 = "[upstream]\nservers = [\"127.0.0.1:1\"]\nh2_ping_interval = \"1m\"\n";
    let path = util::bin::write_config("h2-pool-ping-http1.toml", http1);
    util::bin::assert_refused("ping on http1", &path, "upstream.h2_ping_interval");
    let http1 = "[upstream]\nservers = [\"127.0.0.1:1\"]\nhealth = { grpc_service = \"\" }\n";
    let path = util::bin::write_config("h2-pool-grpc-http1.toml", http1);
    util::bin::assert_refused("grpc check on http1", &path, "upstream.health.grpc_service");
}
