//! The two clocks of an HTTP/1.x connection waiting for a request (src/idle_wait.rs):
//! `timeouts.header` before the first request, `timeouts.idle` between requests.

mod util;

use std::time::{Duration, Instant};

use util::client::{get, Conn};
use util::origin::{ok, origin};

/// Waits (a blocking read, up to 20 s) until weir closes `c`; how long since `started`.
///
/// `started` is taken before the client acts (connects, sends its request), never after
/// its answer: weir's clock starts when it has accepted or answered, which is later,
/// while the client thread may be scheduled a while after weir acted. Timed from then,
/// a busy machine made the close look early.
fn time_to_close(c: &mut Conn, started: Instant) -> Duration {
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
    let sent = Instant::now();
    assert_eq!(c.roundtrip(&get("/")).status, 200);
    let waited = time_to_close(&mut c, sent);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
        "closed {waited:?} after the request was sent; timeouts.idle is 300 ms"
    );
}

#[test]
fn a_connection_that_never_sends_a_request_closes_after_timeouts_header() {
    let o = origin(|_| ok(b"up"));
    let mut config = util::config(&[o.addr]);
    config.timeouts.header = Duration::from_millis(300);
    config.timeouts.idle = Duration::from_secs(30);
    let proxy = util::start(config);
    let connecting = Instant::now();
    let mut c = Conn::open(proxy.addr);
    let waited = time_to_close(&mut c, connecting);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
        "closed {waited:?} after connecting; timeouts.header is 300 ms, timeouts.idle 30 s"
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

/// The epoll reactor keeps far deadlines in coarse slots of 250 ms and opens a slot when
/// its time comes (src/rt/epoll/timers.rs): a slot must never close a connection at the
/// slot's start instead of at its own deadline. 100 connections go idle spread over
/// about 700 ms (several slots); each must close no sooner than `timeouts.idle` after
/// its request was sent (the server's idle clock starts later still), and not long after.
#[test]
fn connections_idling_across_timer_slots_each_close_at_their_own_deadline() {
    const IDLE: Duration = Duration::from_millis(900);
    let o = origin(|_| ok(b"up"));
    let mut config = util::config(&[o.addr]);
    config.timeouts.idle = IDLE;
    config.timeouts.header = Duration::from_secs(30);
    let proxy = util::start(config);
    let watchers: Vec<_> = (0..100u64)
        .map(|i| {
            if i % 10 == 0 {
                // spread the deadlines over several slots (not a wait for a condition)
                std::thread::sleep(Duration::from_millis(70));
            }
            let mut c = Conn::open(proxy.addr);
            let sent = Instant::now();
            assert_eq!(c.roundtrip(&get("/")).status, 200);
            std::thread::spawn(move || {
                assert!(c.is_closed(), "connection {i}: still open after 20 s");
                sent.elapsed()
            })
        })
        .collect();
    for (i, w) in watchers.into_iter().enumerate() {
        let waited = w.join().unwrap();
        assert!(
            waited >= IDLE && waited < IDLE + Duration::from_secs(8),
            "connection {i} closed {waited:?} after its request; timeouts.idle is {IDLE:?}"
        );
    }
}
