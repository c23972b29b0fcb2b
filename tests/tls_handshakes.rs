//! Client handshakes as real TLS clients make them: failures counted by reason in
//! `/metrics` (checked by promtool), each reason produced by the client that causes it
//! in the field (openssl s_client, curl, a stalled socket, bytes that are not TLS), and
//! the cipher suite chosen in weir's order, not the client's.

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use util::admin::{promtool_accepts, scrape, value, wait_for};
use util::bin::temp_dir;
use util::tls::{closes, tls_listener, Ca};
use weir::backend::Mode;
use weir::config::{ServerTls, TlsVersion};

fn openssl(addr: SocketAddr, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs (.ci/run installs it)")
}

fn series(reason: &str) -> String {
    format!("weir_tls_handshake_failures_total{{reason=\"{reason}\"}}")
}

/// Waits until the failure count for `reason` is `want` (the server counts just after
/// the client has seen the failure), and checks it is.
fn assert_count(admin: SocketAddr, reason: &str, want: f64) {
    let text = wait_for(admin, &series(reason), want, Duration::from_secs(10));
    assert_eq!(value(&text, &series(reason)), Some(want), "{text}");
}

#[test]
fn failed_handshakes_are_counted_by_reason() {
    let dir = temp_dir("tls-failure-reasons");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let mut tls = ServerTls::single(&leaf.cert, &leaf.key);
    tls.sni_strict = true;
    tls.min_version = TlsVersion::Tls13;
    let mut config = util::admin::config(&[util::backend(Mode::Echo)]);
    config.listen = vec![tls_listener(tls)];
    config.timeouts.header = Duration::from_millis(500);
    let proxy = util::start(config);
    let (addr, admin) = (proxy.addr, proxy.admin.unwrap());
    let before = scrape(admin);
    for reason in [
        "timeout",
        "no_sni_match",
        "protocol",
        "client_alert",
        "plain_http",
    ] {
        assert_eq!(value(&before, &series(reason)), Some(0.0), "{before}");
    }

    // A name no certificate carries, under sni_strict.
    let out = openssl(addr, &["-servername", "unknown.test"]);
    assert!(!out.status.success());
    assert_count(admin, "no_sni_match", 1.0);

    // A TLS 1.2-only client against min_version = "1.3".
    let out = openssl(addr, &["-servername", "a.test", "-tls1_2"]);
    assert!(!out.status.success());
    assert_count(admin, "protocol", 1.0);

    // Bytes that are not TLS, and a TLS record that is not a ClientHello.
    let send = |bytes: &[u8]| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        s
    };
    assert!(closes(send(b"\x00\x01\x02\x03")));
    assert!(closes(send(b"\x16\x03\x01\x00\x05hello")));
    assert_count(admin, "protocol", 3.0);

    // curl refuses weir's certificate (it does not know the CA) and says so in an alert.
    let port = addr.port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--resolve"])
        .arg(format!("a.test:{port}:127.0.0.1"))
        .arg(format!("https://a.test:{port}/"))
        .output()
        .expect("curl runs");
    assert!(!out.status.success());
    assert_count(admin, "client_alert", 1.0);

    // A handshake that stalls after its first bytes, and a client that says nothing.
    let stalled = send(b"\x16\x03\x01\x02\x00\x01");
    let silent = send(b"");
    assert!(closes(stalled) && closes(silent));
    assert_count(admin, "timeout", 2.0);

    // Plain HTTP to the TLS port.
    assert!(util::client::once(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 400);
    assert_count(admin, "plain_http", 1.0);

    // Nothing else was counted, and the total agrees.
    let text = scrape(admin);
    for reason in ["client_certificate", "closed", "other"] {
        assert_eq!(value(&text, &series(reason)), Some(0.0), "{text}");
    }
    assert_eq!(proxy.handle.tls_handshake_failures(), 8);
    promtool_accepts(text.as_bytes(), "");
}

/// The suite `openssl s_client` agreed on, from its "Cipher is X" line.
fn cipher_chosen(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split("Cipher is ").nth(1))
        .unwrap_or_else(|| panic!("no cipher in: {text}"))
        .trim()
        .to_string()
}

#[test]
fn the_cipher_suite_is_chosen_in_weirs_order_not_the_clients() {
    let dir = temp_dir("tls-cipher-order");
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.listen = vec![tls_listener(ServerTls::single(&leaf.cert, &leaf.key))];
    let proxy = util::start(config);
    let ca_arg = ca_file.to_str().unwrap();
    let common = ["-servername", "a.test", "-CAfile", ca_arg];

    // TLS 1.3: the client lists ChaCha20 first; weir's order has AES-256-GCM first.
    let suites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";
    let out = openssl(
        proxy.addr,
        &[&common[..], &["-tls1_3", "-ciphersuites", suites]].concat(),
    );
    assert_eq!(cipher_chosen(&out), "TLS_AES_256_GCM_SHA384");
    // Offered alone, ChaCha20 is still accepted: this is order, not a narrower list.
    let only = "TLS_CHACHA20_POLY1305_SHA256";
    let out = openssl(
        proxy.addr,
        &[&common[..], &["-tls1_3", "-ciphersuites", only]].concat(),
    );
    assert_eq!(cipher_chosen(&out), only);

    // TLS 1.2 (the test certificate has an ECDSA key), likewise.
    let ciphers =
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384";
    let out = openssl(
        proxy.addr,
        &[&common[..], &["-tls1_2", "-cipher", ciphers]].concat(),
    );
    assert_eq!(cipher_chosen(&out), "ECDHE-ECDSA-AES256-GCM-SHA384");
}
