//! `X-Request-Id`: a well-formed id from the client is kept, anything else replaced by
//! a made one; the id reaches the origin and comes back to the client; it can be off.

mod util;

use util::client::once;
use util::ports::Refusing;
use weir::backend::Mode;

fn id_seen_by_origin(echo: &str) -> Option<String> {
    echo.lines()
        .find_map(|l| l.strip_prefix("X-Request-Id: "))
        .map(|v| v.trim().to_string())
}

#[test]
fn a_well_formed_id_is_kept_forwarded_and_returned() {
    let proxy = util::start(util::config(&[util::backend(Mode::Echo)]));
    let r = once(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: trace-42.a:b\r\n\r\n",
    );
    assert_eq!(r.header("x-request-id"), Some("trace-42.a:b"));
    assert_eq!(
        id_seen_by_origin(&r.text()).as_deref(),
        Some("trace-42.a:b")
    );

    for bad in ["has space", "\"quoted\""] {
        let req = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: {bad}\r\n\r\n");
        let r = once(proxy.addr, req.as_bytes());
        let made = r.header("x-request-id").unwrap().to_string();
        assert_eq!(made.len(), 32, "{made}");
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
        assert_eq!(id_seen_by_origin(&r.text()), Some(made));
    }
    let a = once(proxy.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let b = once(proxy.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[test]
fn request_ids_can_be_turned_off() {
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.forwarded.request_id = false;
    let proxy = util::start(config);
    let r = once(proxy.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.header("x-request-id"), None);
    assert_eq!(id_seen_by_origin(&r.text()), None);
}

struct Deny;

impl weir::Middleware for Deny {
    fn name(&self) -> &str {
        "deny"
    }
    fn on_request(&self, _: &mut weir::Ctx, _: &mut weir::RequestHead) -> weir::Flow {
        weir::Flow::Respond(weir::Response::text(403, "no\n"))
    }
}

#[test]
fn a_local_reply_returns_the_id_too() {
    let config = util::config(&[util::backend(Mode::Echo)]);
    let proxy = util::start_with(config, vec![std::sync::Arc::new(Deny)]);
    let r = once(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc\r\n\r\n",
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-request-id"), Some("abc"));
}

#[test]
fn weirs_own_error_replies_return_the_id_too() {
    // A closed port: the connect is refused, weir answers 502 itself.
    let dead = Refusing::new();
    let proxy = util::start(util::config(&[dead.addr]));
    let r = once(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: trace-502\r\n\r\n",
    );
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-request-id"), Some("trace-502"));
    // A made id, when the client sent none.
    let r = once(proxy.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-request-id").map(str::len), Some(32));
}
