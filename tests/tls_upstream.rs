//! TLS to upstreams: weir verifying a private CA, refusing a wrong one with 502, presenting
//! a client certificate, and re-reading a kept group's CA file on reload. The origins are
//! weir TLS listeners; certificates are made at test time.

mod util;

use util::bin::temp_dir;
use util::tls::{tls_listener, Ca, Leaf};
use util::wait::{wait_until, WAIT};
use weir::backend::Mode;
use weir::config::ServerTls;

const GET: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n";

fn tls_origin(leaf: &Leaf) -> util::TestProxy {
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.listen = vec![tls_listener(ServerTls::single(&leaf.cert, &leaf.key))];
    util::start(config)
}

#[test]
fn upstream_tls_with_a_private_ca_pools_and_a_wrong_ca_is_502() {
    let dir = temp_dir("tls-upstream");
    let ca = Ca::new();
    let origin = tls_origin(&ca.leaf(&dir, "origin", &["origin.test"]));

    let mut config = util::config(&[origin.addr]);
    config.upstream.tls = Some(weir::config::UpstreamTls {
        sni: Some("origin.test".into()),
        ca: Some(ca.write(&dir)),
        verify: true,
        ..Default::default()
    });
    let proxy = util::start(config.clone());
    // One keep-alive client: weir reads its next request only once the last exchange
    // is over, its upstream connection back in the pool. (A new client connection per
    // request raced that return and sometimes opened a second TLS connection.)
    let mut client = util::client::Conn::open(proxy.addr);
    for _ in 0..3 {
        let resp = client.roundtrip(GET);
        assert_eq!(resp.status, 200, "{}", resp.text());
        // The origin saw the request arrive over TLS.
        assert!(
            resp.text().contains("X-Forwarded-Proto: https\r\n"),
            "{}",
            resp.text()
        );
    }
    assert_eq!(
        proxy.handle.upstream_connections_opened(),
        1,
        "TLS connections are pooled"
    );
    drop(proxy);

    // Another CA: verification fails, 502, and nothing is sent in plain text.
    let other = Ca::new();
    let other_dir = temp_dir("tls-upstream-other");
    config.upstream.tls.as_mut().unwrap().ca = Some(other.write(&other_dir));
    let proxy = util::start(config);
    assert_eq!(util::client::once(proxy.addr, GET).status, 502);
}

#[test]
fn upstream_mutual_tls_presents_the_client_certificate() {
    let dir = temp_dir("tls-upstream-mtls");
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "origin", &["origin.test"]);
    let client = ca.leaf(&dir, "client", &["weir.client.test"]);
    // The origin asks for a client certificate from the CA.
    let mut tls = ServerTls::single(&leaf.cert, &leaf.key);
    tls.client_ca = Some(ca_file.clone());
    let mut origin_config = util::config(&[util::backend(Mode::Echo)]);
    origin_config.listen = vec![tls_listener(tls)];
    let origin = util::start(origin_config);

    let upstream_tls = |cert: Option<&Leaf>| weir::config::UpstreamTls {
        sni: Some("origin.test".into()),
        ca: Some(ca_file.clone()),
        cert: cert.map(|c| c.cert.clone()),
        key: cert.map(|c| c.key.clone()),
        verify: true,
    };
    let mut config = util::config(&[origin.addr]);
    config.upstream.tls = Some(upstream_tls(Some(&client)));
    let proxy = util::start(config.clone());
    let resp = util::client::once(proxy.addr, GET);
    assert_eq!(resp.status, 200, "{}", resp.text());
    drop(proxy);

    config.upstream.tls = Some(upstream_tls(None));
    let proxy = util::start(config);
    assert_eq!(util::client::once(proxy.addr, GET).status, 502);
}

#[test]
fn a_reload_rereads_a_kept_groups_ca_file() {
    let dir = temp_dir("tls-upstream-renew");
    let ca = Ca::new();
    let origin = tls_origin(&ca.leaf(&dir, "origin", &["origin.test"]));
    let ca_file = ca.write(&dir);
    let mut config = util::config(&[origin.addr]);
    config.upstream.keepalive = 0; // every request connects, so every request verifies
    config.upstream.tls = Some(weir::config::UpstreamTls {
        sni: Some("origin.test".into()),
        ca: Some(ca_file.clone()),
        verify: true,
        ..Default::default()
    });
    let proxy = util::start_reloadable(config);
    let addr = proxy.addr;
    assert_eq!(util::client::once(addr, GET).status, 200);
    // The same group definition, but the CA file now holds another CA.
    std::fs::write(&ca_file, Ca::new().pem()).unwrap();
    proxy.handle.reload();
    wait_until(WAIT, "the reloaded proxy answers 502", || {
        util::client::once(addr, GET).status == 502
    });
    proxy.stop().unwrap();
}

/// The commonest test certificate: `openssl req -x509`, a self-signed CA
/// (`CA:TRUE`), written to `dir`.
fn openssl_req_x509(dir: &std::path::Path, san: &str) -> Leaf {
    let (cert, key) = (dir.join("req.pem"), dir.join("req.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg(format!("subjectAltName={san}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Leaf {
        der: Vec::new(),
        cert,
        key,
    }
}

#[test]
fn an_openssl_req_x509_certificate_given_as_its_own_ca_is_trusted_name_and_dates_checked() {
    let dir = temp_dir("tls-upstream-req-x509");
    let leaf = openssl_req_x509(&dir, "DNS:localhost,IP:127.0.0.1");
    let origin = tls_origin(&leaf);
    let upstream = |sni: Option<&str>, ca: &std::path::Path| {
        let mut config = util::config(&[origin.addr]);
        config.upstream.tls = Some(weir::config::UpstreamTls {
            sni: sni.map(Into::into),
            ca: Some(ca.to_path_buf()),
            verify: true,
            ..Default::default()
        });
        util::start(config)
    };
    // By name, and by the server's IP (its subjectAltName has both).
    for sni in [Some("localhost"), None] {
        let proxy = upstream(sni, &leaf.cert);
        let resp = util::client::once(proxy.addr, GET);
        assert_eq!(resp.status, 200, "{sni:?}: {}", resp.text());
    }
    // The name is still checked against the pinned certificate.
    let proxy = upstream(Some("other.test"), &leaf.cert);
    assert_eq!(util::client::once(proxy.addr, GET).status, 502);

    // And its dates: the same kind of certificate (CA:TRUE, self-signed), expired.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = params.self_signed(&key).unwrap();
    let old_dir = temp_dir("tls-upstream-req-x509-expired");
    let old = Leaf {
        der: Vec::new(),
        cert: old_dir.join("old.pem"),
        key: old_dir.join("old.key"),
    };
    std::fs::write(&old.cert, expired.pem()).unwrap();
    std::fs::write(&old.key, key.serialize_pem()).unwrap();
    let old_origin = tls_origin(&old);
    let mut config = util::config(&[old_origin.addr]);
    config.upstream.tls = Some(weir::config::UpstreamTls {
        sni: Some("localhost".into()),
        ca: Some(old.cert.clone()),
        verify: true,
        ..Default::default()
    });
    let proxy = util::start(config);
    assert_eq!(util::client::once(proxy.addr, GET).status, 502);
}
