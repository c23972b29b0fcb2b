//! Every error path answers with the right status, a well-formed reply, and (where the
//! connection cannot go on) `Connection: close`.

mod util;

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::client::{get, once, Conn};
use util::origin::{ok, origin, Reply};
use util::ports::Refusing;
use weir::{Ctx, Middleware, RequestHead, Summary, Upstreams};

fn proxy_to_ok() -> (util::TestProxy, util::origin::Origin) {
    let o = origin(|_| ok(b"fine"));
    let mut config = util::config(&[o.addr]);
    config.limits.max_body_bytes = 1000;
    config.limits.max_header_bytes = 2048;
    config.limits.max_headers = 10;
    (util::start(config), o)
}

fn status_and_close(addr: std::net::SocketAddr, raw: &[u8]) -> (u16, bool) {
    let mut c = Conn::open(addr);
    let r = c.roundtrip(raw);
    let closes = r.header("connection") == Some("close");
    if closes {
        assert!(c.is_closed(), "said close, so must close");
    }
    (r.status, closes)
}

#[test]
fn client_errors_get_their_status_and_a_close() {
    let (proxy, o) = proxy_to_ok();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(3000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-A: 1\r\n".repeat(11)
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(3000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400),
        ("missing Host on 1.1", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("CL and TE together", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), 400),
        ("declared body over the limit", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n".to_vec(), 413),
        ("target too long", long_target.into_bytes(), 414),
        ("too many headers", many_headers.into_bytes(), 431),
        ("head too large", big_header.into_bytes(), 431),
        ("unknown expectation", b"GET / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n".to_vec(), 417),
        ("unknown transfer coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(), 501),
    ];
    for (what, raw, want) in cases {
        let (status, closes) = status_and_close(proxy.addr, &raw);
        assert_eq!(status, want, "{what}");
        assert!(
            closes,
            "{what}: the connection cannot continue after a client error"
        );
    }
    assert!(
        o.try_request().is_none(),
        "no bad request reached the origin"
    );
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let (proxy, _o) = proxy_to_ok();
    let mut c = Conn::open(proxy.addr);
    let mut raw = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    raw.extend_from_slice(format!("7d0\r\n{}\r\n0\r\n\r\n", "x".repeat(2000)).as_bytes());
    assert_eq!(c.roundtrip(&raw).status, 413);
}

#[test]
fn slow_request_head_gets_408() {
    let o = origin(|_| ok(b""));
    let mut config = util::config(&[o.addr]);
    config.timeouts.header = Duration::from_millis(300);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n"); // never finished
    let r = c.read(false).unwrap();
    assert_eq!((r.status, r.header("connection")), (408, Some("close")));
}

#[test]
fn refused_upstream_is_502_at_once_not_after_a_timeout() {
    let closed = Refusing::new();
    let mut config = util::config(&[closed.addr]);
    config.timeouts.connect = Duration::from_secs(30);
    let proxy = util::start(config);
    let started = Instant::now();
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 502);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "502 came from the refusal, not the 30 s timeout"
    );
    // The request was fully read, so the client connection carries on.
    assert_eq!(c.roundtrip(&get("/")).status, 502);
}

#[test]
fn silent_upstream_is_504() {
    let o = origin(|_| Reply::Bytes(Vec::new())); // reads the request, never answers
    let mut config = util::config(&[o.addr]);
    config.timeouts.upstream_read = Duration::from_millis(300);
    let proxy = util::start(config);
    assert_eq!(once(proxy.addr, &get("/")).status, 504);
}

#[test]
fn malformed_upstream_response_is_502() {
    let o = origin(|_| {
        Reply::BytesThenClose(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
        )
    });
    let proxy = util::start(util::config(&[o.addr]));
    assert_eq!(once(proxy.addr, &get("/")).status, 502);
}

struct PickNothingValid;

impl Middleware for PickNothingValid {
    fn name(&self) -> &str {
        "bad-balancer"
    }
    fn select_upstream(&self, _: &mut Ctx, _: &RequestHead, _: &Upstreams) -> Option<usize> {
        Some(99)
    }
}

#[test]
fn no_usable_upstream_is_503() {
    let o = origin(|_| ok(b""));
    let mut config = util::config(&[o.addr]);
    config.middleware.clear();
    config.middleware.push(weir::config::MiddlewareSpec {
        builtin: Some("log".into()),
        config: toml::from_str("path = \"/dev/null\"").unwrap(),
        ..Default::default()
    });
    // Code-added middleware runs before the implicit balancer, so its pick wins.
    let proxy = util::start_with(config, vec![Arc::new(PickNothingValid)]);
    assert_eq!(once(proxy.addr, &get("/")).status, 503);
}

/// Panics on `/boom`, reports each completed request's path.
struct Bomb(Mutex<Sender<String>>);

impl Middleware for Bomb {
    fn name(&self) -> &str {
        "bomb"
    }
    fn on_request(&self, _: &mut Ctx, req: &mut RequestHead) -> weir::Flow {
        assert!(req.path() != "/boom", "boom");
        weir::Flow::Continue
    }
    fn on_complete(&self, _: &Ctx, s: &Summary<'_>) {
        let _ = self.0.lock().unwrap().send(s.request.target.clone());
    }
}

#[test]
fn a_panicking_connection_task_does_not_take_the_proxy_down() {
    let o = origin(|_| ok(b"alive"));
    let (tx, done) = channel();
    let proxy = util::start_with(
        util::config(&[o.addr]),
        vec![Arc::new(Bomb(Mutex::new(tx)))],
    );
    let mut c = Conn::open(proxy.addr);
    c.send(&get("/boom"));
    assert!(
        c.read(false).is_none(),
        "the panicking connection is closed"
    );
    assert_eq!(once(proxy.addr, &get("/")).text(), "alive");
    // The panicked request never completed; the next one did, and it is the first reported.
    assert_eq!(done.recv_timeout(Duration::from_secs(20)).unwrap(), "/");
}

#[test]
fn regression_an_error_reply_to_head_has_no_body() {
    // Nothing listens there: every request is a 502 weir writes itself, and the
    // connection stays open after it.
    let dead = Refusing::new();
    let proxy = util::start(util::config(&[dead.addr]));
    let mut c = Conn::open(proxy.addr);
    let head = c.roundtrip(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 502);
    assert_eq!(
        head.header("content-length"),
        Some("16"),
        "the GET's length"
    );
    // A body after the HEAD reply would be read here as the next status line.
    let r = c.roundtrip(&get("/x"));
    assert_eq!((r.status, r.text().as_str()), (502, "502 Bad Gateway\n"));
}
