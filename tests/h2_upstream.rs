//! HTTP/2 to upstreams (`protocol = "h2c" | "h2"`): HTTP/1.1 and HTTP/2 clients through
//! weir to origins speaking h2 (the `h2` crate's server, tests/util/h2origin.rs), one
//! multiplexed connection shared by many requests, round-robin per request, a refused
//! stream retried elsewhere even for POST, and h2 over TLS with a test CA.

mod util;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use util::client::{self, Conn};
use util::h2origin::{self, Behaviour};
use util::wait::{wait_until, WAIT};
use weir::config::{UpstreamProtocol, UpstreamTls};
use weir::Config;

fn h2c_config(origins: &[SocketAddr]) -> Config {
    let mut config = util::config(origins);
    config.upstream.protocol = UpstreamProtocol::H2c;
    config
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        .into_bytes();
    // Streamed in several chunks, so weir forwards it as several DATA frames.
    for piece in body.chunks(100_000) {
        r.extend(format!("{:x}\r\n", piece.len()).bytes());
        r.extend(piece);
        r.extend(b"\r\n");
    }
    r.extend(b"0\r\n\r\n");
    r
}

#[test]
fn http1_clients_reach_an_h2c_origin_get_post_and_unknown_length() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let proxy = util::start(h2c_config(&[origin.addr]));
    let mut c = Conn::open(proxy.addr);

    let r = c.roundtrip(&client::get("/"));
    assert_eq!((r.status, r.text().as_str()), (200, "o1"));
    assert_eq!(r.header("content-length"), Some("2"));

    let body = util::pattern(1 << 20, 7);
    let r = c.roundtrip(&post("/hash", &body));
    let want = format!("{} {:x}", body.len(), util::fnv(&body));
    assert_eq!((r.status, r.text()), (200, want));

    // No content-length from the origin: chunked to the HTTP/1.1 client, which keeps
    // its connection.
    let r = c.roundtrip(&client::get("/nolength"));
    assert_eq!((r.status, r.text().as_str()), (200, "o1 without a length"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let r = c.roundtrip(&client::get("/"));
    assert_eq!(r.status, 200);

    assert_eq!(
        origin.connections(),
        1,
        "every request on one h2 connection"
    );
    assert_eq!(origin.requests(), 4);
}

#[test]
fn fifty_concurrent_http1_clients_share_one_upstream_h2_connection() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let proxy = util::start(h2c_config(&[origin.addr]));
    let clients = client::burst(proxy.addr, 50, "o1");
    assert_eq!(origin.requests(), 50);
    assert_eq!(origin.connections(), 1);
    drop(clients);
}

#[test]
fn more_connections_open_when_every_one_is_full() {
    // 30 requests held in flight at once, 10 streams per connection at most.
    let origin = h2origin::h2c("o1", Behaviour::Hold(30));
    let mut config = h2c_config(&[origin.addr]);
    config.upstream.max_streams_per_connection = 10;
    let proxy = util::start(config);
    let clients = client::burst(proxy.addr, 30, "o1");
    assert_eq!(origin.requests(), 30);
    assert_eq!(origin.connections(), 3);
    drop(clients);
}

#[test]
fn idle_h2_connections_close_after_keepalive_timeout() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let mut config = h2c_config(&[origin.addr]);
    config.upstream.keepalive_timeout = std::time::Duration::from_millis(200);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    wait_until(WAIT, "weir closes the idle connection", || {
        origin.closed() == 1
    });
    // The next request opens a new one.
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    assert_eq!(origin.connections(), 2);
}

#[test]
fn an_upstream_goaway_retires_its_connection_without_failing_requests() {
    let origin = h2origin::h2c("o1", Behaviour::GoAwayAfterOne);
    let proxy = util::start(h2c_config(&[origin.addr]));
    let mut c = Conn::open(proxy.addr);
    // Each connection takes one request, then says GOAWAY: every request still gets
    // its answer, the later ones on new connections (no retry elsewhere: one server).
    for i in 1..=5 {
        let r = c.roundtrip(b"POST /p HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((r.status, r.text().as_str()), (200, "o1"), "request {i}");
    }
    assert_eq!(origin.connections(), 5);
}

#[test]
fn round_robin_over_three_h2c_origins_spreads_each_request() {
    let origins: Vec<_> = ["o1", "o2", "o3"]
        .map(|n| h2origin::h2c(n, Behaviour::Serve))
        .into();
    let addrs: Vec<_> = origins.iter().map(|o| o.addr).collect();
    let proxy = util::start(h2c_config(&addrs));
    let mut c = Conn::open(proxy.addr);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..30 {
        let r = c.roundtrip(&client::get("/"));
        assert_eq!(r.status, 200);
        *seen.entry(r.text()).or_default() += 1;
    }
    let want: std::collections::BTreeMap<String, usize> =
        [("o1".into(), 10), ("o2".into(), 10), ("o3".into(), 10)].into();
    assert_eq!(seen, want);
    for o in &origins {
        assert_eq!(o.connections(), 1);
    }
}

#[test]
fn a_refused_stream_goes_to_another_server_even_for_post() {
    let refusing = h2origin::h2c("refusing", Behaviour::Refuse);
    let good = h2origin::h2c("good", Behaviour::Serve);
    let mut config = h2c_config(&[refusing.addr, good.addr]);
    config.upstream.debug_headers = true;
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    // Round-robin begins with the first server: the refusing one.
    let r = c.roundtrip(b"POST /p HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "good"), "{r:?}");
    assert_eq!(refusing.requests(), 1, "the refusing server got the stream");
    let reason = r.header("x-weir-reason").unwrap_or_default();
    let from = format!("retry after reset from {}", refusing.addr);
    assert!(reason.contains(&from), "{reason}");
}

#[test]
fn an_h2_client_reaches_an_h2c_origin_through_an_h2c_listener() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let mut config = h2c_config(&[origin.addr]);
    config.listen = vec![util::h2c_listener()];
    let proxy = util::start(config);
    let dir = util::bin::temp_dir("h2-upstream-curl");
    let body = util::pattern(300_000, 3);
    let file = dir.join("body");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(&body)
        .unwrap();
    let url = |path: &str| format!("http://{}{path}", proxy.addr);
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--http2-prior-knowledge", "--max-time", "20"])
            .args(["-w", "\n%{http_code} %{http_version}"])
            .args(args)
            .output()
            .expect("curl runs (.ci/run installs it)");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(curl(&[&url("/")]), "o1\n200 2");
    assert_eq!(curl(&[&url("/nolength")]), "o1 without a length\n200 2");
    let data = format!("@{}", file.display());
    let want = format!("{} {:x}\n200 2", body.len(), util::fnv(&body));
    assert_eq!(curl(&["--data-binary", &data, &url("/hash")]), want);
    assert_eq!(origin.connections(), 1);
}

/// An h2 client's answer from an h2c origin: the origin's own fields when nothing
/// touched them (weir sends the map h2 decoded, `http::h2fields`), and the head a
/// middleware edited when one did (the map must not win over the edit).
#[test]
fn an_h2_client_gets_the_origins_fields_or_the_middlewares_edit() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let listen = util::h2c_listener();
    let mut config = h2c_config(&[origin.addr]);
    config.listen = vec![listen.clone()];
    let plain = util::start(config);
    let mut config = h2c_config(&[origin.addr]);
    config.listen = vec![listen];
    let spec: weir::config::MiddlewareSpec = toml::from_str(
        r#"
builtin = "headers"
config = { response = { add = { "X-Served-By" = "weir" }, remove = ["X-Origin"] } }
"#,
    )
    .unwrap();
    config.middleware.insert(0, spec);
    let edited = util::start(config);
    let head = |addr: SocketAddr| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--http2-prior-knowledge",
                "--max-time",
                "20",
                "-D",
                "-",
            ])
            .arg(format!("http://{addr}/"))
            .output()
            .expect("curl runs (.ci/run installs it)");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().to_ascii_lowercase()
    };
    let plain = head(plain.addr);
    assert!(plain.starts_with("http/2 200"), "{plain}");
    assert!(plain.contains("\r\nx-origin: o1\r\n"), "{plain}");
    assert!(plain.contains("\r\ncontent-length: 2\r\n"), "{plain}");
    assert_eq!(plain.matches("content-length").count(), 1, "{plain}");
    assert!(
        plain.contains("\r\nx-request-id: "),
        "weir's own field: {plain}"
    );
    let edited = head(edited.addr);
    assert!(edited.contains("\r\nx-served-by: weir\r\n"), "{edited}");
    assert!(!edited.contains("x-origin"), "{edited}");
    assert!(edited.contains("\r\ncontent-length: 2\r\n"), "{edited}");
}

#[test]
fn an_h2_upstream_over_tls_with_a_private_ca() {
    let dir = util::bin::temp_dir("h2-upstream-tls");
    let ca = util::tls::Ca::new();
    let leaf = ca.leaf(&dir, "origin", &["origin.test"]);
    let origin = h2origin::h2_tls("tls-origin", server_tls(&leaf, &[b"h2"]));
    let mut config = util::config(&[origin.addr]);
    config.upstream.protocol = UpstreamProtocol::H2;
    config.upstream.tls = Some(UpstreamTls {
        sni: Some("origin.test".into()),
        ca: Some(ca.write(&dir)),
        verify: true,
        ..Default::default()
    });
    let proxy = util::start(config.clone());
    let mut c = Conn::open(proxy.addr);
    for _ in 0..3 {
        let r = c.roundtrip(&client::get("/"));
        assert_eq!((r.status, r.text().as_str()), (200, "tls-origin"));
    }
    let body = util::pattern(200_000, 5);
    let r = c.roundtrip(&post("/hash", &body));
    assert_eq!(r.text(), format!("{} {:x}", body.len(), util::fnv(&body)));
    assert_eq!(origin.connections(), 1);
    drop(proxy);

    // A TLS server that does not agree to h2 by ALPN: 502, nothing sent in HTTP/1.1.
    let no_h2 = h2origin::h2_tls("no-h2", server_tls(&leaf, &[b"http/1.1"]));
    config.upstream.servers[0].addr = no_h2.addr;
    let proxy = util::start(config);
    assert_eq!(client::once(proxy.addr, &client::get("/")).status, 502);
    assert_eq!(no_h2.requests(), 0);
}

/// A rustls server config for `leaf`, offering `alpn`.
fn server_tls(leaf: &util::tls::Leaf, alpn: &[&[u8]]) -> Arc<futures_rustls::rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<_> = CertificateDer::pem_file_iter(&leaf.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&leaf.key).unwrap();
    let provider = Arc::new(util::tls::ring());
    let mut config = futures_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

#[test]
fn active_health_checks_speak_h2_to_an_h2c_group() {
    let origin = h2origin::h2c("up", Behaviour::Serve);
    let mut config = h2c_config(&[origin.addr]);
    config.upstream.health = Some(weir::config::Health {
        path: "/health".into(),
        interval: std::time::Duration::from_millis(50),
        fails: 1,
        passes: 1,
        ..Default::default()
    });
    let proxy = util::start(config);
    // The probes arrive as h2 streams (an HTTP/1.1 probe would fail the origin's h2
    // handshake, count no request, and take the server out).
    wait_until(WAIT, "three requests reach the origin", || {
        origin.requests() >= 3
    });
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(&client::get("/"));
    assert_eq!((r.status, r.text().as_str()), (200, "up"));
}

#[test]
fn weir_check_names_each_groups_protocol_and_refuses_h2_without_tls() {
    let text = "[upstreams.grpc]\nservers = [\"127.0.0.1:50051\"]\nprotocol = \"h2c\"\n\
                [upstreams.web]\nservers = [\"127.0.0.1:8081\"]\n\
                [[routes]]\nupstream = \"grpc\"\npath = \"/pkg.Svc/\"\n\
                [[routes]]\nupstream = \"web\"\n";
    let path = util::bin::write_config("h2-upstream-check.toml", text);
    let out = util::bin::run(&["check", "--config", &path]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        said.contains("grpc: round-robin over 1 server(s), protocol h2c"),
        "{said}"
    );
    assert!(
        said.contains("web: round-robin over 1 server(s), protocol http1"),
        "{said}"
    );
    let no_tls = "[upstream]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h2\"\n";
    let path = util::bin::write_config("h2-upstream-no-tls", no_tls);
    util::bin::assert_refused("h2 without tls", &path, "upstream.protocol");
}
