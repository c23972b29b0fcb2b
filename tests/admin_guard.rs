//! Who may ask the admin listener what, over raw sockets: `Host` must name the
//! listener, a state change needs a marker a foreign page cannot send and its own
//! origin, the token when set; refusals close the connection and are logged at most
//! once per ten seconds; the token can come from a file; `weir check` warns about an
//! admin listener open to the network.

mod util;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use util::admin::{announced, call, json};
use util::bin::{spawn, write_config};
use util::client::once;
use weir::Proxy;

const LIMIT: Duration = Duration::from_secs(10);

/// `METHOD path` with the given extra header lines, `Connection: close`.
fn ask(admin: SocketAddr, method: &str, path: &str, headers: &str) -> util::client::Resp {
    let req = format!(
        "{method} {path} HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    once(admin, req.as_bytes())
}

fn drained(admin: SocketAddr, i: usize) -> bool {
    json(admin, "/api/upstreams")["groups"][0]["servers"][i]["drained"] == true
}

#[test]
fn a_foreign_host_is_refused_and_the_listeners_own_names_are_not() {
    let text = "[upstream]\nservers = [\"127.0.0.1:1\"]\n[admin]\nlisten = \"127.0.0.1:9901\"\n";
    let bad = format!("{text}allowed_hosts = [\"weir.internal:9901\"]\n");
    let e = weir::Config::parse(&bad, "w.toml").unwrap_err();
    assert_eq!(e.key, "admin.allowed_hosts", "{e}");
    let ok = format!("{text}allowed_hosts = [\"Weir.Internal.\"]\n");
    let c = weir::Config::parse(&ok, "w.toml").unwrap();
    assert_eq!(c.admin.unwrap().allowed_hosts, ["weir.internal"]);

    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.admin.as_mut().unwrap().allowed_hosts = vec!["weir.internal".into()];
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let port = admin.port();
    for path in ["/api/config", "/status", "/metrics", "/"] {
        for host in [
            "evil.example",
            &format!("evil.example:{port}"),
            "localhost.evil.example",
        ] {
            let r = ask(admin, "GET", path, &format!("Host: {host}\r\n"));
            assert_eq!(r.status, 403, "{host} {path}");
            assert!(r.text().contains("admin.allowed_hosts"), "{}", r.text());
            assert_eq!(r.header("connection"), Some("close"));
        }
    }
    let drain = format!("/api/upstreams/default/servers/{}/drain", backends[0]);
    let r = ask(
        admin,
        "POST",
        &drain,
        "Host: evil.example\r\nX-Weir-Admin: 1\r\n",
    );
    assert_eq!(r.status, 403);
    assert!(!drained(admin, 0));
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".into(),
        format!("localhost:{port}"),
        "[::1]:9901".into(),
        "weir.internal".into(),
        format!("WEIR.internal.:{port}"),
    ] {
        let r = ask(admin, "GET", "/api/config", &format!("Host: {host}\r\n"));
        assert_eq!(r.status, 200, "{host}: {}", r.text());
    }
    // HTTP/1.0 without Host: no browser sends that.
    let r = once(admin, b"GET /api/routes HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn a_state_change_needs_a_marker_and_its_own_origin() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let admin = proxy.admin.unwrap();
    let host = format!("Host: {admin}\r\n");
    let drain = format!("/api/upstreams/default/servers/{}/drain", backends[0]);
    let enable = format!("/api/upstreams/default/servers/{}/enable", backends[0]);
    // What a form or a `no-cors` fetch can send: refused, nothing changed.
    for extra in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
    ] {
        let r = ask(admin, "POST", &drain, &format!("{host}{extra}"));
        assert_eq!(r.status, 403, "{extra:?}: {}", r.text());
        assert!(r.text().contains("X-Weir-Admin"), "{}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
    }
    let r = ask(admin, "POST", "/api/reload", &host);
    assert_eq!(r.status, 403);
    assert!(!drained(admin, 0));
    // The marker, or a JSON content type: both need a preflight from a page.
    let r = ask(admin, "POST", &drain, &format!("{host}X-Weir-Admin: 1\r\n"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(drained(admin, 0));
    let json_type = "Content-Type: application/json; charset=utf-8\r\n";
    let r = ask(admin, "POST", &enable, &format!("{host}{json_type}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!drained(admin, 0));
    // With the marker but from a page of another origin (or none): refused.
    for origin in [
        "http://evil.example".to_string(),
        "null".into(),
        format!("http://127.0.0.1:{}", admin.port() + 1),
        format!("http://localhost:{}", admin.port()),
    ] {
        let extra = format!("{host}X-Weir-Admin: 1\r\nOrigin: {origin}\r\n");
        let r = ask(admin, "POST", &drain, &extra);
        assert_eq!(r.status, 403, "{origin}: {}", r.text());
        assert!(r.text().contains("another origin"), "{}", r.text());
    }
    assert!(!drained(admin, 0));
    // Its own origin (the status page's, say): allowed.
    let extra = format!("{host}X-Weir-Admin: 1\r\nOrigin: http://{admin}\r\n");
    assert_eq!(ask(admin, "POST", &drain, &extra).status, 200);
    assert!(drained(admin, 0));
    // A preflight is never approved: no Access-Control-* header, whatever is asked.
    let preflight = format!(
        "{host}Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: x-weir-admin\r\n"
    );
    let r = ask(admin, "OPTIONS", &enable, &preflight);
    assert!(!(200..300).contains(&r.status), "{}", r.status);
    assert!(
        r.headers
            .iter()
            .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-")),
        "{:?}",
        r.headers
    );
    assert!(drained(admin, 0));
}

#[test]
fn with_a_token_the_token_is_what_counts() {
    let token = "0123456789abcdef0123";
    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.admin.as_mut().unwrap().token = Some(token.into());
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let drain = format!("/api/upstreams/default/servers/{}/drain", backends[0]);
    let r = call(admin, "POST", &drain, None);
    assert_eq!(r.status, 401, "the marker is no token");
    assert_eq!(r.header("connection"), Some("close"));
    // The token alone: a page cannot send Authorization without a preflight either.
    let auth = format!("Host: {admin}\r\nAuthorization: Bearer {token}\r\n");
    assert_eq!(ask(admin, "POST", &drain, &auth).status, 200);
    let evil = format!("{auth}Origin: http://evil.example\r\n");
    assert_eq!(ask(admin, "POST", &drain, &evil).status, 403);
}

#[test]
fn a_failed_reload_answers_422_unprocessable_content() {
    let backends = util::named_backends(1);
    let server = Proxy::new(util::admin::config(&backends))
        .handle_signals(false)
        .reload_from(|| weir::Config::parse("[limits]\nmax_bodyy = 1\n", "weir.toml"))
        .bind()
        .unwrap();
    let (admin, handle) = (server.admin_addr().unwrap(), server.handle());
    let runner = std::thread::spawn(move || server.run());
    let mut s = TcpStream::connect(admin).unwrap();
    let req = format!(
        "POST /api/reload HTTP/1.1\r\nHost: {admin}\r\nX-Weir-Admin: 1\r\nConnection: close\r\n\r\n"
    );
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 422 Unprocessable Content\r\n"),
        "{answer}"
    );
    handle.stop();
    runner.join().unwrap().unwrap();
}

#[test]
fn refusals_are_logged_once_per_ten_seconds_and_the_token_comes_from_a_file() {
    let dir = util::bin::temp_dir("admin-token-file");
    let file = dir.join("token");
    let token = "f1le-t0ken-f1le-t0ken";
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let file = file.display().to_string();
    let mut weir = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:1",
            "--admin",
            "127.0.0.1:0",
            "--admin-token-file",
            &file,
        ],
        "stderr",
        "listening on",
    );
    let admin = announced(&weir);
    for _ in 0..40 {
        assert_eq!(call(admin, "GET", "/metrics", None).status, 401);
    }
    assert_eq!(
        call(admin, "GET", "/metrics", Some("wrong-but-long-enough")).status,
        401
    );
    // The token from the file works; the drain it asks for is logged after the refusals.
    let r = call(
        admin,
        "POST",
        "/api/upstreams/default/servers/127.0.0.1:1/drain",
        Some(token),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    weir.later
        .wait_for("weir: admin: drain", LIMIT)
        .expect("the drain is logged");
    let lines = weir.later.snapshot();
    let refused: Vec<&String> = lines.iter().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 1, "one line for 41 refusals: {lines:?}");
    assert!(
        refused[0].contains("GET /metrics from 127.0.0.1:") && refused[0].contains("no token"),
        "{}",
        refused[0]
    );
    assert!(
        !lines.iter().any(|l| l.contains(token)),
        "the token is never logged"
    );
    let _ = weir.child.kill();
}

#[test]
fn the_token_file_is_checked_and_check_warns_about_a_network_admin() {
    let dir = util::bin::temp_dir("admin-token-check");
    let short = dir.join("short");
    std::fs::write(&short, "s3cret\n").unwrap();
    let good = dir.join("good");
    std::fs::write(&good, "0123456789abcdef\n").unwrap();
    let (short, good) = (short.display().to_string(), good.display().to_string());
    let quick = ["--upstream", "127.0.0.1:1", "--admin", "0.0.0.0:9901"];
    let out = util::bin::run(&[&["serve"][..], &quick, &["--admin-token-file", &short]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("admin.token") && err.contains("at least 16 bytes"),
        "{err}"
    );
    let missing = dir.join("missing").display().to_string();
    let out = util::bin::run(&[&["serve"][..], &quick, &["--admin-token-file", &missing]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&missing) && err.contains("--admin-token-file"),
        "{err}"
    );
    // Without a token the non-loopback address is refused, naming the flag to use.
    let out = util::bin::run(&[&["serve"][..], &quick].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.token") && err.contains("--admin-token-file"),
        "{err}"
    );

    let config = write_config("admin-check", "[upstream]\nservers = [\"127.0.0.1:1\"]\n");
    let out = util::bin::run(&[
        "check",
        "--config",
        &config,
        "--admin",
        "0.0.0.0:9901",
        "--admin-token-file",
        &good,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("warning     admin.listen 0.0.0.0:9901 is not loopback"),
        "{text}"
    );
    let out = util::bin::run(&["check", "--config", &config, "--admin", "127.0.0.1:9901"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("admin       127.0.0.1:9901") && !text.contains("warning"),
        "{text}"
    );
}
