//! Hop-by-hop headers go in both directions; X-Forwarded-* are added; the `headers`
//! built-in rewrites safely.

mod util;

use util::client::{once, Conn};
use util::origin::{origin, Reply};

#[test]
fn hop_by_hop_headers_are_removed_and_forwarded_headers_added() {
    let o = origin(|_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\nConnection: X-Origin-Private\r\nX-Origin-Private: 1\r\nKeep-Alive: timeout=5\r\nTrailer: X\r\nContent-Length: 2\r\n\r\nok"
                .to_vec(),
        )
    });
    let proxy = util::start(util::config(&[o.addr]));
    let r = once(
        proxy.addr,
        b"GET /h HTTP/1.1\r\nHost: site.example\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(r.text(), "ok");
    for gone in ["connection", "x-origin-private", "keep-alive", "trailer"] {
        assert!(r.header(gone).is_none(), "response still has {gone}");
    }
    let seen = o.next_request();
    for gone in [
        "x-private",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(
            seen.header(gone).is_none(),
            "request still has {gone}: {}",
            seen.raw_head
        );
    }
    assert_eq!(seen.header("accept"), Some("*/*"));
    assert_eq!(seen.header("x-forwarded-for"), Some("10.0.0.1, 127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-host"), Some("site.example"));
    assert_eq!(
        seen.header("host"),
        Some("site.example"),
        "Host passes through"
    );
}

#[test]
fn forwarded_headers_can_be_turned_off() {
    let o = origin(|_| util::origin::ok(b""));
    let mut config = util::config(&[o.addr]);
    config.forwarded.for_ = false;
    config.forwarded.proto = false;
    config.forwarded.host = false;
    let proxy = util::start(config);
    once(proxy.addr, &util::client::get("/"));
    let seen = o.next_request();
    assert!(
        !seen.raw_head.to_ascii_lowercase().contains("x-forwarded"),
        "{}",
        seen.raw_head
    );
}

#[test]
fn headers_builtin_sets_adds_and_removes() {
    let o = origin(|_| {
        Reply::Bytes(b"HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Length: 0\r\n\r\n".to_vec())
    });
    let mut config = util::config(&[o.addr]);
    let spec: weir::config::MiddlewareSpec = toml::from_str(
        r#"
builtin = "headers"
config = { request = { set = { "X-Env" = "test" }, remove = ["X-Debug"] }, response = { add = { "X-Served-By" = "weir" }, remove = ["Server"] } }
"#,
    )
    .unwrap();
    config.middleware.insert(0, spec);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\nX-Debug: 1\r\nX-Env: prod\r\n\r\n");
    assert_eq!(r.header("x-served-by"), Some("weir"));
    assert!(r.header("server").is_none());
    let seen = o.next_request();
    assert_eq!(seen.header("x-env"), Some("test"));
    assert!(seen.header("x-debug").is_none());
}
