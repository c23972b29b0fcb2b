//! The two clocks of an HTTP/1.x connection waiting for a request (src/idle_wait.rs):
//! `timeouts.header` before the first request, `timeouts.idle` between requests.

mod util;

use std::time::{Duration, Instant};

use util::client::{get, Conn};
use util::origin::{ok, origin};

/// Waits (a blocking read, up to 20 s) until weir closes `c`; how long that took.
fn time_to_close(c: &mut Conn) -> Duration {
    let started = Instant::now();
    assert!(c.is_closed(), "weir closed the connection");
    started.elapsed()
}

#[test]
fn an_idle_keep_alive_connection_closes_after_timeouts_idle() {
    let o = origin(|_| ok(b"up"));
    let mut config = util::config(&[o.addr]);
    config.timeouts.idle = Duration::from_millis(300);
    config.timeouts.header = Duration::from_secs(30);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&get("/")).status, 200);
    let waited = time_to_close(&mut c);
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(10),
        "closed after {waited:?}; timeouts.idle is 300 ms"
    );
}

#[test]
fn a_connection_that_never_sends_a_request_closes_after_timeouts_header() {
    let o = origin(|_| ok(b"up"));
    let mut config = util::config(&[o.addr]);
    config.timeouts.header = Duration::from_millis(300);
    config.timeouts.idle = Duration::from_secs(30);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    let waited = time_to_close(&mut c);
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(10),
        "closed after {waited:?}; timeouts.header is 300 ms, timeouts.idle 30 s"
    );
}

#[test]
fn between_requests_the_idle_clock_runs_not_the_header_clock() {
    let o = origin(|_| ok(b"up"));
    let mut config = util::config(&[o.addr]);
    config.timeouts.header = Duration::from_millis(200);
    config.timeouts.idle = Duration::from_secs(30);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&get("/")).status, 200);
    // Five times the header clock, still open: nothing arrives, and a read times out.
    c.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert!(!c.is_closed(), "open after 1 s; timeouts.idle is 30 s");
    assert_eq!(c.roundtrip(&get("/")).status, 200);
}
