//! HAProxy itself as the layer-4 balancer in front of weir (`mode tcp`, `send-proxy-v2`
//! and `send-proxy`): a client on 127.0.0.2 goes through HAProxy on 127.0.0.1, and the
//! origin behind weir sees 127.0.0.2 in X-Forwarded-For, as does the access log; over
//! TLS the header comes before the ClientHello, for HTTP/1.1 and HTTP/2 alike.

mod util;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use util::origin::{ok, origin};
use util::tls::{tls_listener, Ca};
use weir::config::{Cidr, Listener, MiddlewareSpec, ProxyProtocol, ServerTls, Versions};

/// The client's own address, other than HAProxy's, so the two cannot be confused.
const CLIENT: &str = "127.0.0.2";

fn proxied(mut listen: Listener, accept: Versions) -> Listener {
    listen.proxy_protocol = Some(ProxyProtocol {
        accept,
        trusted: vec![Cidr::parse("127.0.0.1/32").unwrap()],
    });
    listen
}

/// weir over an origin that answers with the X-Forwarded-For it got, logging to `log`.
fn weir(listen: Listener, log: &Path) -> (util::TestProxy, util::origin::Origin) {
    let o = origin(|r| ok(r.header("x-forwarded-for").unwrap_or("none").as_bytes()));
    let mut config = util::config(&[o.addr]);
    config.listen = vec![listen];
    let entry = format!(
        "builtin = \"log\"\nconfig = {{ format = \"combined\", path = {:?} }}\n",
        log.display().to_string()
    );
    config
        .middleware
        .insert(0, toml::from_str::<MiddlewareSpec>(&entry).unwrap());
    (util::start(config), o)
}

/// curl from 127.0.0.2 to `url` with `extra` flags: the body it got.
fn curl(url: &str, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--interface", CLIENT])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn logged_from_client(log: &Path, lines: usize) {
    let text = std::fs::read_to_string(log).unwrap();
    let from = text
        .lines()
        .filter(|l| l.starts_with(&format!("{CLIENT} ")))
        .count();
    assert_eq!(from, lines, "{text}");
}

#[test]
fn haproxy_send_proxy_v2_and_v1_give_weir_the_client_address() {
    let Some(haproxy) = util::haproxy::binary() else {
        eprintln!("haproxy not installed: skipped");
        return;
    };
    for (option, accept) in [
        ("send-proxy-v2", Versions::V2),
        ("send-proxy", Versions::V1),
    ] {
        let log_dir = util::bin::temp_dir(&format!("pp-haproxy-{option}"));
        let log = log_dir.join("access.log");
        let listen = "127.0.0.1:0".parse::<SocketAddr>().unwrap().into();
        let (w, _origin) = weir(proxied(listen, accept), &log);
        let h = util::haproxy::start(&haproxy, option, w.addr, option);
        let url = format!("http://{}/", h.addr);
        for _ in 0..3 {
            assert_eq!(curl(&url, &[]), CLIENT, "{option}");
        }
        drop(h);
        w.stop().unwrap();
        logged_from_client(&log, 3);
    }
}

#[test]
fn haproxy_in_front_of_a_tls_listener_sends_the_header_before_the_client_hello() {
    let Some(haproxy) = util::haproxy::binary() else {
        eprintln!("haproxy not installed: skipped");
        return;
    };
    let dir = util::bin::temp_dir("pp-haproxy-tls");
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "site", &["localhost"]);
    let listen = tls_listener(ServerTls::single(&leaf.cert, &leaf.key));
    let log = dir.join("access.log");
    let (w, _origin) = weir(proxied(listen, Versions::Both), &log);
    let h = util::haproxy::start(&haproxy, "tls", w.addr, "send-proxy-v2");
    let url = format!("https://localhost:{}/", h.addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", h.addr.port());
    let ca = ca_file.display().to_string();
    let common = ["--cacert", &ca, "--resolve", &resolve];
    assert_eq!(curl(&url, &[&common[..], &["--http1.1"]].concat()), CLIENT);
    assert_eq!(curl(&url, &[&common[..], &["--http2"]].concat()), CLIENT);
    drop(h);
    w.stop().unwrap();
    logged_from_client(&log, 2);
}
