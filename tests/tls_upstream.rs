//! TLS to upstreams: weir verifying a private CA, refusing a wrong one with 502, presenting
//! a client certificate, and re-reading a kept group's CA file on reload. The origins are
//! weir TLS listeners; certificates are made at test time.

mod util;

use util::bin::temp_dir;
use util::tls::{eventually, tls_listener, Ca, Leaf};
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
    config.upstream_tls = Some(weir::config::UpstreamTls {
        sni: Some("origin.test".into()),
        ca: Some(ca.write(&dir)),
        verify: true,
        ..Default::default()
    });
    let proxy = util::start(config.clone());
    for _ in 0..3 {
        let resp = util::client::once(proxy.addr, GET);
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
    config.upstream_tls.as_mut().unwrap().ca = Some(other.write(&other_dir));
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
    config.upstream_tls = Some(upstream_tls(Some(&client)));
    let proxy = util::start(config.clone());
    let resp = util::client::once(proxy.addr, GET);
    assert_eq!(resp.status, 200, "{}", resp.text());
    drop(proxy);

    config.upstream_tls = Some(upstream_tls(None));
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
    config.keepalive = 0; // every request connects, so every request verifies
    config.upstream_tls = Some(weir::config::UpstreamTls {
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
    assert!(eventually(|| util::client::once(addr, GET).status == 502));
    proxy.stop().unwrap();
}
