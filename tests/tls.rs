//! HTTPS to clients: real rustls clients over loopback, certificates made at test time.
//! TLS to upstreams is in `tls_upstream.rs`; certificates and listeners across a reload in
//! `tls_reload.rs`.

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use util::bin::temp_dir;
use util::tls::{closes, connect, roundtrip, shown, tls_listener, Ca, Leaf};
use util::wait::{wait_until, WAIT};
use weir::backend::Mode;
use weir::config::{CertFiles, ServerTls, TlsVersion};
use weir::Config;

const GET: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n";

/// A config with a plain listener first and a TLS one second, over an echo origin.
fn plain_and_tls(tls: ServerTls) -> Config {
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.listen.push(tls_listener(tls));
    config
}

#[test]
fn https_and_plain_listeners_side_by_side() {
    let dir = temp_dir("tls-side-by-side");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let proxy = util::start(plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key)));
    let (plain, tls) = (proxy.addrs[0], proxy.addrs[1]);

    let s = connect(tls, "a.test", ca.client(&[b"http/1.1"])).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (resp, s) = roundtrip(s, GET);
    assert_eq!(resp.status, 200);
    let echoed = resp.text();
    assert!(echoed.contains("X-Forwarded-Proto: https\r\n"), "{echoed}");
    // Keep-alive over TLS: a second request on the same connection.
    let (resp, _) = roundtrip(s, GET);
    assert_eq!(resp.status, 200);

    let resp = util::client::once(plain, GET);
    assert!(
        resp.text().contains("X-Forwarded-Proto: http\r\n"),
        "{}",
        resp.text()
    );
}

#[test]
fn a_client_without_alpn_still_gets_http_1_1() {
    let dir = temp_dir("tls-no-alpn");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let proxy = util::start(plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key)));
    let s = connect(proxy.addrs[1], "a.test", ca.client(&[])).unwrap();
    assert_eq!(s.conn.alpn_protocol(), None);
    assert_eq!(roundtrip(s, GET).0.status, 200);
    // A client that offers only h2 gets it (TLS listeners offer h2 by default)...
    let s = connect(proxy.addrs[1], "a.test", ca.client(&[b"h2"])).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    // ...but with `h2 = false` it is refused (no protocol in common), not downgraded.
    let mut config = plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key));
    config.listen[1].h2 = false;
    let proxy = util::start(config);
    assert!(connect(proxy.addrs[1], "a.test", ca.client(&[b"h2"])).is_err());
}

/// The key exchange a browser-like client gets, one that offers the post-quantum hybrid
/// X25519MLKEM768 first and X25519 next. Built with the `aws-lc-rs` feature weir
/// chooses the hybrid; on ring, which has no ML-KEM, the client can offer only X25519
/// (and the NIST curves), and X25519 is chosen.
#[test]
fn key_exchange_is_post_quantum_on_aws_lc_rs_and_x25519_on_ring() {
    use rustls::NamedGroup;
    let dir = temp_dir("tls-kx");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let proxy = util::start(plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key)));

    #[cfg(feature = "aws-lc-rs")]
    let (provider, want) = {
        use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
        let mut p = default_provider();
        p.kx_groups = vec![kx_group::X25519MLKEM768, kx_group::X25519];
        (p, NamedGroup::X25519MLKEM768)
    };
    #[cfg(not(feature = "aws-lc-rs"))]
    let (provider, want) = (util::tls::ring(), NamedGroup::X25519);

    let client = ca.client_on(provider, &[b"http/1.1"], &[&rustls::version::TLS13]);
    let s = connect(proxy.addrs[1], "a.test", client).unwrap();
    let group = s.conn.negotiated_key_exchange_group().map(|g| g.name());
    assert_eq!(group, Some(want));
    assert_eq!(roundtrip(s, GET).0.status, 200);
}

fn sni_certs(dir: &std::path::Path, ca: &Ca) -> (Vec<Leaf>, Vec<CertFiles>) {
    let leaves = vec![
        ca.leaf(dir, "default", &["default.test"]),
        ca.leaf(dir, "a", &["a.test", "www.a.test"]),
        ca.leaf(dir, "wild", &["*.wild.test"]),
        ca.leaf(dir, "exact", &["x.wild.test"]),
    ];
    let files = leaves
        .iter()
        .map(|l| CertFiles {
            cert: l.cert.clone(),
            key: l.key.clone(),
        })
        .collect();
    (leaves, files)
}

#[test]
fn sni_picks_exact_then_wildcard_then_default() {
    let dir = temp_dir("tls-sni");
    let ca = Ca::new();
    let (leaves, certs) = sni_certs(&dir, &ca);
    let tls = ServerTls {
        certs,
        sni_strict: false,
        min_version: TlsVersion::Tls12,
        client_ca: None,
    };
    let proxy = util::start(plain_and_tls(tls));
    let addr = proxy.addrs[1];
    let client = ca.client(&[b"http/1.1"]);
    for (name, want) in [
        ("default.test", 0),
        ("a.test", 1),
        ("www.a.test", 1),
        ("y.wild.test", 2),
        ("x.wild.test", 3), // an exact name beats the wildcard
    ] {
        let s = connect(addr, name, client.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            shown(&s) == leaves[want].der,
            "{name} got the wrong certificate"
        );
        assert_eq!(roundtrip(s, GET).0.status, 200);
    }
    // One label only: neither the parent nor a deeper name matches the wildcard; both
    // get the default (which the client cannot verify for them).
    let any = util::tls::client_trusting_anything();
    for name in ["wild.test", "a.b.wild.test", "unknown.test"] {
        let s = connect(addr, name, any.clone()).unwrap();
        assert!(shown(&s) == leaves[0].der, "{name} should get the default");
    }
}

#[test]
fn sni_strict_refuses_unknown_names() {
    let dir = temp_dir("tls-sni-strict");
    let ca = Ca::new();
    let (leaves, certs) = sni_certs(&dir, &ca);
    let tls = ServerTls {
        certs,
        sni_strict: true,
        min_version: TlsVersion::Tls12,
        client_ca: None,
    };
    let proxy = util::start(plain_and_tls(tls));
    let addr = proxy.addrs[1];
    let s = connect(addr, "a.test", ca.client(&[])).unwrap();
    assert!(shown(&s) == leaves[1].der);
    let err = connect(addr, "unknown.test", util::tls::client_trusting_anything()).unwrap_err();
    assert!(err.to_string().contains("alert"), "{err}");
    wait_until(WAIT, "at least 1 handshake failure counted", || {
        proxy.handle.tls_handshake_failures() >= 1
    });
}

#[test]
fn tls_1_2_and_1_3_and_min_version() {
    let dir = temp_dir("tls-versions");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let only12 = ca.client_with(&[], &[&rustls::version::TLS12]);
    let only13 = ca.client_with(&[], &[&rustls::version::TLS13]);

    let proxy = util::start(plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key)));
    let s = connect(proxy.addrs[1], "a.test", only12.clone()).unwrap();
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(roundtrip(s, GET).0.status, 200);
    let s = connect(proxy.addrs[1], "a.test", only13.clone()).unwrap();
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(roundtrip(s, GET).0.status, 200);
    drop(proxy);

    let mut tls = ServerTls::single(&leaf.cert, &leaf.key);
    tls.min_version = TlsVersion::Tls13;
    let proxy = util::start(plain_and_tls(tls));
    assert!(connect(proxy.addrs[1], "a.test", only12).is_err());
    assert!(connect(proxy.addrs[1], "a.test", only13).is_ok());
}

#[test]
fn plain_http_to_the_tls_port_gets_a_plain_400_and_a_close() {
    let dir = temp_dir("tls-plain-http");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let proxy = util::start(plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key)));
    let mut c = util::client::Conn::open(proxy.addrs[1]);
    c.send(GET);
    let resp = c.read(false).expect("a plain-text reply");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        resp.text()
            .contains("plain HTTP request was sent to an HTTPS port"),
        "{}",
        resp.text()
    );
    assert!(c.is_closed());
    wait_until(WAIT, "1 handshake failure counted", || {
        proxy.handle.tls_handshake_failures() == 1
    });
}

#[test]
fn a_stalled_or_garbage_handshake_closes_within_the_header_timeout() {
    let dir = temp_dir("tls-stall");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let mut config = plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key));
    config.timeouts.header = Duration::from_millis(300);
    let proxy = util::start(config);
    let addr = proxy.addrs[1];
    let open = |first: &[u8]| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(first).unwrap();
        s
    };
    let started = Instant::now();
    // Silent; half a TLS record header; a complete record header promising more.
    for first in [&b""[..], b"\x16\x03", b"\x16\x03\x01\x02\x00\x01"] {
        assert!(closes(open(first)), "{first:?} was not closed");
    }
    // Garbage is closed at once.
    assert!(closes(open(b"\x00\x01\x02\x03")));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // The server still works, and counted all four.
    let s = connect(addr, "a.test", ca.client(&[])).unwrap();
    assert_eq!(roundtrip(s, GET).0.status, 200);
    wait_until(WAIT, "4 handshake failures counted", || {
        proxy.handle.tls_handshake_failures() == 4
    });
}

#[test]
fn large_bodies_both_ways_over_tls_keep_their_hash() {
    let dir = temp_dir("tls-bodies");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let down = util::pattern(5 * 1024 * 1024 + 3, 9);
    let answer = down.clone();
    // The origin reads the whole upload, then answers with its hash and a large body.
    let origin = util::origin::origin(move |req| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nX-Upload-Hash: {}\r\nContent-Length: {}\r\n\r\n",
            util::fnv(&req.body),
            answer.len()
        )
        .into_bytes();
        r.extend_from_slice(&answer);
        util::origin::Reply::Bytes(r)
    });
    let mut config = util::config(&[origin.addr]);
    config
        .listen
        .push(tls_listener(ServerTls::single(&leaf.cert, &leaf.key)));
    let proxy = util::start(config);
    let mut s = connect(proxy.addrs[1], "a.test", ca.client(&[])).unwrap();
    let up = util::pattern(3 * 1024 * 1024 + 17, 7);
    for _ in 0..2 {
        let mut all = format!(
            "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: {}\r\n\r\n",
            up.len()
        )
        .into_bytes();
        all.extend_from_slice(&up);
        let (resp, back) = roundtrip(s, &all);
        s = back;
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("x-upload-hash"),
            Some(util::fnv(&up).to_string().as_str())
        );
        assert_eq!(resp.body.len(), down.len());
        assert_eq!(util::fnv(&resp.body), util::fnv(&down));
    }
}

/// A WebSocket echo origin: echoes each message until the client closes.
fn ws_echo_origin() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).unwrap();
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn websocket_over_tls() {
    let dir = temp_dir("tls-ws");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let mut config = util::config(&[ws_echo_origin()]);
    config
        .listen
        .push(tls_listener(ServerTls::single(&leaf.cert, &leaf.key)));
    let proxy = util::start(config);
    let s = connect(proxy.addrs[1], "a.test", ca.client(&[])).unwrap();
    let (mut ws, resp) = tungstenite::client("ws://a.test/echo", s).expect("upgrade over TLS");
    assert_eq!(resp.status(), 101);
    for text in ["over tls", "twice"] {
        ws.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap().into_text().unwrap().as_str(), text);
    }
    let _ = ws.close(None);
}

/// A TLS origin: a second weir with a TLS listener in front of an echo backend.
#[test]
fn a_redirect_https_route_sends_plain_http_to_https_with_308() {
    let dir = temp_dir("tls-redirect");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let mut config = plain_and_tls(ServerTls::single(&leaf.cert, &leaf.key));
    config.routes = vec![weir::config::RouteConfig {
        redirect: Some("https".into()),
        ..Default::default()
    }];
    let proxy = util::start(config);
    let resp = util::client::once(
        proxy.addrs[0],
        b"POST /form?x=1 HTTP/1.1\r\nHost: a.test:8080\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(resp.status, 308);
    assert_eq!(resp.header("location"), Some("https://a.test/form?x=1"));
    // With its reason phrase, as nginx writes it.
    let mut raw = std::net::TcpStream::connect(proxy.addrs[0]).unwrap();
    let head = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    std::io::Write::write_all(&mut raw, head).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut raw, &mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"),
        "{text}"
    );
    // Over TLS the same route forwards.
    let s = connect(proxy.addrs[1], "a.test", ca.client(&[])).unwrap();
    assert_eq!(roundtrip(s, GET).0.status, 200);
    // No Host: nothing to redirect to.
    let resp = util::client::once(proxy.addrs[0], b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(resp.status, 400);
}
