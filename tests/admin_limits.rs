//! The admin listener is bounded like the proxy (head limits, timeouts, no bodies) and
//! cannot be locked out: a client refused for want of a token is closed, and at the cap
//! of 64 connections the longest-idle one makes room, so an authorised scrape gets
//! through however many other clients hold connections.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::admin::call;
use util::client::{once, Conn};

const TOKEN: &str = "a-token-of-24-bytes-long";

/// How long an authorised scrape may take while the listener is crowded: far less
/// than the header (10 s) and idle (60 s) timeouts that would otherwise free a seat.
const SCRAPE_LIMIT: Duration = Duration::from_secs(5);

fn scrape_with_token(admin: std::net::SocketAddr) -> Option<u16> {
    let mut c = Conn::open(admin);
    c.reader
        .get_mut()
        .set_read_timeout(Some(SCRAPE_LIMIT))
        .unwrap();
    c.send(
        format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    );
    c.read(false).map(|r| r.status)
}

#[test]
fn a_scrape_gets_through_while_200_unauthorised_clients_hold_connections() {
    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.admin.as_mut().unwrap().token = Some(TOKEN.into());
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    // 100 clients ask without the token and keep their connections; 100 more connect
    // and say nothing. All are queued before the scrape.
    let mut crowd = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(admin).expect("connect");
        if i % 2 == 0 {
            let req = format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\n\r\n");
            s.write_all(req.as_bytes()).unwrap();
        }
        crowd.push(s);
    }
    for round in 0..3 {
        let started = Instant::now();
        assert_eq!(
            scrape_with_token(admin),
            Some(200),
            "scrape {round} answered within {SCRAPE_LIMIT:?} (took {:?})",
            started.elapsed()
        );
    }
    drop(crowd);
}

#[test]
fn a_refused_client_is_closed() {
    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.admin.as_mut().unwrap().token = Some(TOKEN.into());
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let mut c = Conn::open(admin);
    let r = c.roundtrip(format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\n\r\n").as_bytes());
    assert_eq!(r.status, 401);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed(), "the connection was closed after the 401");
}

#[test]
fn the_admin_listener_is_bounded_like_the_proxy() {
    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.timeouts.header = Duration::from_millis(200);
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: {admin}\r\nX-Big: {}\r\n\r\n",
        "x".repeat(20_000)
    );
    assert_eq!(once(admin, big.as_bytes()).status, 431);
    let body = format!(
        "POST /api/reload HTTP/1.1\r\nHost: {admin}\r\nX-Weir-Admin: 1\r\nContent-Length: 2\r\n\r\nhi"
    );
    assert_eq!(once(admin, body.as_bytes()).status, 413);
    // A head that never completes is answered 408 after timeouts.header.
    let mut slow = Conn::open(admin);
    slow.send(b"GET /metrics HTTP/1.1\r\n");
    assert_eq!(slow.read(false).map(|r| r.status), Some(408));
    // Keep-alive: two requests on one connection, HEAD without a body.
    let mut c = Conn::open(admin);
    let routes = format!("GET /api/routes HTTP/1.1\r\nHost: {admin}\r\n\r\n");
    assert_eq!(c.roundtrip(routes.as_bytes()).status, 200);
    let head = format!("HEAD /metrics HTTP/1.1\r\nHost: {admin}\r\n\r\n");
    let head = c.roundtrip(head.as_bytes());
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(call(admin, "GET", "/nope", None).status, 404);
}
