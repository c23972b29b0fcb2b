//! HTTPS through the `weir` binary, checked by the tools people use: `curl --cacert`
//! and `openssl s_client`; SIGHUP with a bad key; `weir check`'s certificate listing.

mod util;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use util::bin::{run, signal, spawn, temp_dir};
use util::tls::Ca;

/// The `https://ADDR` the binary announced.
fn https_addr(preamble: &[String]) -> String {
    let line = preamble.last().expect("the listening line");
    let rest = line.split("https://").nth(1).expect("an https address");
    rest.split([',', ' ']).next().unwrap().to_string()
}

fn curl(ca: &std::path::Path, addr: &str, path: &str) -> std::process::Output {
    let port = addr.rsplit(':').next().unwrap();
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("a.test:{port}:127.0.0.1")])
        .arg(format!("https://a.test:{port}{path}"))
        .output()
        .expect("curl runs (.ci/run installs it)")
}

#[test]
fn quick_mode_https_with_curl_and_openssl() {
    let dir = temp_dir("tls-cli-quick");
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let backend = util::named_backends(1)[0];
    let weir = spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            leaf.cert.to_str().unwrap(),
            "--tls-key",
            leaf.key.to_str().unwrap(),
            "--upstream",
            &backend.to_string(),
        ],
        "stderr",
        "listening on",
    );
    let addr = https_addr(&weir.preamble);
    let out = curl(&ca_file, &addr, "/");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "backend 1\n");

    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr,
            "-servername",
            "a.test",
            "-alpn",
            "http/1.1",
            "-CAfile",
        ])
        .arg(&ca_file)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
}

#[test]
fn sighup_with_a_mismatched_key_is_refused_and_the_old_certificate_serves() {
    let dir = temp_dir("tls-cli-reload");
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let other = ca.leaf(&dir, "b", &["b.test"]);
    let (cert, key) = (dir.join("site.pem"), dir.join("site.key"));
    fs::copy(&leaf.cert, &cert).unwrap();
    fs::copy(&leaf.key, &key).unwrap();
    let backend = util::named_backends(1)[0];
    let config = dir.join("weir.toml");
    fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:0\", {{ addr = \"127.0.0.1:0\", tls = {{ cert = {:?}, key = {:?} }} }}]\n[upstream]\nservers = [\"{backend}\"]\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let weir = spawn(
        &["--config", config.to_str().unwrap()],
        "stderr",
        "listening on",
    );
    let addr = https_addr(&weir.preamble);
    assert!(curl(&ca_file, &addr, "/").status.success());

    fs::copy(&other.key, &key).unwrap();
    signal(&weir.child, "HUP");
    let line = weir
        .later
        .wait_for("reload failed", Duration::from_secs(30))
        .expect("the reload is refused");
    assert!(line.contains("listen[1].tls.key"), "{line}");
    assert!(line.contains("does not match the certificate"), "{line}");
    let out = curl(&ca_file, &addr, "/");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "backend 1\n");

    fs::remove_file(&key).unwrap();
    signal(&weir.child, "HUP");
    let line = weir
        .later
        .wait_for("cannot read", Duration::from_secs(30))
        .expect("a missing key is refused too");
    assert!(line.contains("site.key"), "{line}");
    assert!(curl(&ca_file, &addr, "/").status.success());
}

#[test]
fn check_lists_certificates_and_warns_of_expiry_and_mismatch() {
    let dir = temp_dir("tls-cli-check");
    let ca = Ca::new();
    let good = ca.leaf(&dir, "good", &["a.test", "*.b.test"]);
    let old = ca.expired_leaf(&dir, "old", &["old.test"]);
    let config = dir.join("weir.toml");
    let write = |key: &std::path::Path| {
        fs::write(
            &config,
            format!(
                "listen = {{ addr = \"127.0.0.1:8443\", tls = {{ certs = [{{ cert = {:?}, key = {:?} }}, {{ cert = {:?}, key = {:?} }}] }} }}\n[upstream]\nservers = [\"127.0.0.1:9001\"]\n",
                good.cert.display().to_string(),
                good.key.display().to_string(),
                old.cert.display().to_string(),
                key.display().to_string(),
            ),
        )
        .unwrap();
    };
    write(&old.key);
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("names a.test, *.b.test"), "{text}");
    assert!(text.contains("issuer CN=weir test CA"), "{text}");
    assert!(text.contains("not after"), "{text}");
    assert!(text.contains("old.pem has expired"), "{text}");

    write(&good.key);
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen.tls.certs[1].key"), "{err}");
    assert!(err.contains("does not match"), "{err}");
}

#[test]
fn check_loads_upstream_tls_as_a_start_would() {
    let dir = temp_dir("tls-cli-check-upstream");
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let config = dir.join("weir.toml");
    let write = |ca: &std::path::Path| {
        fs::write(
            &config,
            format!(
                "[upstream]\nservers = [\"127.0.0.1:9001\"]\ntls = {{ sni = \"api.test\", ca = {:?} }}\n",
                ca.display().to_string()
            ),
        )
        .unwrap();
    };
    write(&ca_file);
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("tls         to servers: SNI api.test, CA"),
        "{text}"
    );

    write(&dir.join("missing.pem"));
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upstream.tls.ca: cannot read"), "{err}");
}
