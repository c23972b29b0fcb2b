//! The admin listener: exact metric counts after a known sequence of requests, the
//! exposition checked by Prometheus' own parser (`promtool`), the token rule, drain and
//! enable under load, reloads through the API, and up/down gauges following an origin.

mod util;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use util::admin::{announced, call, json, promtool_accepts, scrape, value, wait_for};
use util::bin::spawn;
use util::client::{get, once, Conn};
use util::listening::start_on_free_port;
use util::wait::poll_until;
use weir::Proxy;

const LIMIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "s3cret-s3cret-s3cret";

#[test]
fn every_answered_request_counts_exactly_once() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let admin = proxy.admin.unwrap();
    let mut c = Conn::open(proxy.addr);
    for _ in 0..7 {
        assert_eq!(c.roundtrip(&get("/")).status, 200);
    }
    // Refused before routing: counted with route="-" and as client errors.
    assert_eq!(once(proxy.addr, b"BAD\r\n\r\n").status, 400);
    assert_eq!(once(proxy.addr, b"GET / HTTP/1.1\r\n\r\n").status, 400);
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(20_000));
    assert_eq!(once(proxy.addr, long.as_bytes()).status, 414);

    let ok = r#"weir_requests_total{route="default",upstream="default",code_class="2xx"}"#;
    let text = wait_for(admin, ok, 7.0, LIMIT);
    let refused = r#"weir_requests_total{route="-",upstream="-",code_class="4xx"}"#;
    let text = match value(&text, refused) {
        Some(3.0) => text,
        _ => wait_for(admin, refused, 3.0, LIMIT),
    };
    assert_eq!(value(&text, ok), Some(7.0), "{text}");
    assert_eq!(value(&text, refused), Some(3.0), "{text}");
    let count = r#"weir_request_duration_seconds_count{route="default",upstream="default"}"#;
    assert_eq!(value(&text, count), Some(7.0), "{text}");
    let count = r#"weir_request_duration_seconds_count{route="-",upstream="-"}"#;
    assert_eq!(value(&text, count), Some(3.0), "{text}");
    let inf =
        r#"weir_request_duration_seconds_bucket{route="default",upstream="default",le="+Inf"}"#;
    assert_eq!(value(&text, inf), Some(7.0), "{text}");
    assert_eq!(
        value(&text, r#"weir_client_errors_total{status="400"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(&text, r#"weir_client_errors_total{status="414"}"#),
        Some(1.0)
    );
    // The upstream side: 7 responses over two servers, every one counted.
    let upstream: f64 = backends
        .iter()
        .map(|b| {
            let s = format!(
                r#"weir_upstream_requests_total{{upstream="default",server="{b}",code_class="2xx"}}"#
            );
            value(&text, &s).unwrap()
        })
        .sum();
    assert_eq!(upstream, 7.0, "{text}");
    let hist = r#"weir_upstream_response_seconds_count{upstream="default"}"#;
    assert_eq!(value(&text, hist), Some(7.0), "{text}");
    assert_eq!(
        value(&text, r#"weir_build_info{version="0.1.0"}"#),
        Some(1.0)
    );
    // Never a client address or a raw path as a label.
    assert!(!text.contains("xxxx"), "a path leaked into a label");
    assert!(text.contains("weir_connections_accepted_total "), "{text}");
}

#[test]
fn the_exposition_passes_promtool() {
    let backends = util::named_backends(1);
    let proxy = util::start(util::admin::config(&backends));
    let admin = proxy.admin.unwrap();
    for _ in 0..3 {
        once(proxy.addr, &get("/"));
    }
    once(proxy.addr, b"BAD\r\n\r\n");
    let r = call(admin, "GET", "/metrics", None);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    promtool_accepts(&r.body, &r.text());
}

#[test]
fn a_non_loopback_admin_needs_a_token_and_the_token_is_checked() {
    let text = "[upstream]\nservers = [\"127.0.0.1:1\"]\n[admin]\nlisten = \"0.0.0.0:9901\"\n";
    let e = weir::Config::parse(text, "w.toml").unwrap_err();
    assert_eq!(e.key, "admin.token", "{e}");
    let short = format!("{text}token = \"s3cret\"\n");
    let e = weir::Config::parse(&short, "w.toml").unwrap_err();
    assert_eq!(e.key, "admin.token", "{e}");
    assert!(e.to_string().contains("at least 16 bytes"), "{e}");
    let ok = format!("{text}token = \"0123456789abcdef\"\n");
    assert!(weir::Config::parse(&ok, "w.toml").is_ok());
    let same = "listen = \"127.0.0.1:8080\"\n[upstream]\nservers = [\"127.0.0.1:1\"]\n[admin]\nlisten = \"127.0.0.1:8080\"\n";
    let e = weir::Config::parse(same, "w.toml").unwrap_err();
    assert_eq!(e.key, "admin.listen", "{e}");

    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.admin.as_mut().unwrap().token = Some(TOKEN.into());
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let denied = call(admin, "GET", "/metrics", None);
    assert_eq!(denied.status, 401);
    assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
    assert_eq!(call(admin, "GET", "/metrics", Some("wrong")).status, 401);
    assert_eq!(call(admin, "POST", "/api/reload", None).status, 401);
    assert_eq!(call(admin, "GET", "/metrics", Some(TOKEN)).status, 200);
    // The page itself holds no data; its requests carry the token.
    assert_eq!(call(admin, "GET", "/status", None).status, 200);
    let cfg = call(admin, "GET", "/api/config", Some(TOKEN)).text();
    assert!(!cfg.contains(TOKEN), "{cfg}");
    assert!(cfg.contains("<redacted>"), "{cfg}");
    // Proxied traffic never reaches the admin endpoints.
    assert_eq!(
        once(proxy.addr, &get("/metrics")).text().trim(),
        "backend 1"
    );
}

#[test]
fn drain_and_enable_under_load_fail_no_request() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let (addr, admin) = (proxy.addr, proxy.admin.unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    // Each answer is recorded with the phase its request was SENT in (0 before the
    // drain, 1 after the drain call returned, 2 after the enable call returned): a
    // request sent before the drain may still land on backend 2, however late its
    // answer is recorded (a hammer thread can be descheduled between reading it and
    // recording it while the others run on).
    let phase = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let hammers: Vec<_> = (0..4)
        .map(|_| {
            let (done, failed, seen, phase) =
                (done.clone(), failed.clone(), seen.clone(), phase.clone());
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                while !done.load(Ordering::SeqCst) {
                    let sent_in = phase.load(Ordering::SeqCst);
                    c.send(&get("/"));
                    match c.read(false) {
                        Some(r) if r.status == 200 => seen
                            .lock()
                            .unwrap()
                            .push((sent_in, r.text().trim().to_string())),
                        _ => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            c = Conn::open(addr);
                        }
                    }
                }
            })
        })
        .collect();
    let count_in = |p: usize| seen.lock().unwrap().iter().filter(|(s, _)| *s == p).count();
    let wait_seen = |p: usize, n: usize| {
        let deadline = std::time::Instant::now() + LIMIT;
        while count_in(p) < n && std::time::Instant::now() < deadline {
            thread::yield_now();
        }
    };
    let backends_in = |p: usize| -> Vec<String> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .filter(|(s, _)| *s == p)
            .map(|(_, b)| b.clone())
            .collect()
    };
    wait_seen(0, 200);
    let path = format!("/api/upstreams/default/servers/{}/drain", backends[1]);
    let r = call(admin, "POST", &path, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"drained\": true"), "{}", r.text());
    phase.store(1, Ordering::SeqCst);
    // Every request sent after the drain returned goes to backend 1.
    wait_seen(1, 300);
    let after = backends_in(1);
    assert!(
        after.len() >= 300,
        "only {} answers after the drain",
        after.len()
    );
    assert!(
        after.iter().all(|b| b == "backend 1"),
        "a drained server got a request"
    );
    let up = json(admin, "/api/upstreams");
    assert_eq!(up["groups"][0]["servers"][1]["drained"], true);

    let path = format!("/api/upstreams/default/servers/{}/enable", backends[1]);
    assert_eq!(call(admin, "POST", &path, None).status, 200);
    phase.store(2, Ordering::SeqCst);
    wait_seen(2, 300);
    let back = backends_in(2).iter().any(|b| b == "backend 2");
    done.store(true, Ordering::SeqCst);
    for h in hammers {
        h.join().unwrap();
    }
    assert!(back, "an enabled server is back in rotation");
    assert_eq!(failed.load(Ordering::SeqCst), 0, "a request failed");
    // With every server drained, nothing is picked, not even by fail-open.
    for b in &backends {
        let drain = format!("/api/upstreams/default/servers/{b}/drain");
        assert_eq!(call(admin, "POST", &drain, None).status, 200);
    }
    assert_eq!(once(addr, &get("/")).status, 503);
    let unknown = call(
        admin,
        "POST",
        "/api/upstreams/nope/servers/1.2.3.4:5/drain",
        None,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(call(admin, "GET", &path, None).status, 405);
}

#[test]
fn reload_through_the_api_answers_with_its_result_and_keeps_a_drain() {
    let backends = util::named_backends(2);
    let broken = Arc::new(AtomicBool::new(false));
    let source = {
        let (backends, broken) = (backends.clone(), broken.clone());
        move || {
            if broken.load(Ordering::SeqCst) {
                return weir::Config::parse("[limits]\nmax_bodyy = 1\n", "weir.toml");
            }
            Ok(util::admin::config(&backends))
        }
    };
    let server = Proxy::new(source().unwrap())
        .handle_signals(false)
        .reload_from(source)
        .bind()
        .unwrap();
    let (addr, admin, handle) = (
        server.local_addr(),
        server.admin_addr().unwrap(),
        server.handle(),
    );
    let runner = thread::spawn(move || server.run());

    let drain = format!("/api/upstreams/default/servers/{}/drain", backends[0]);
    assert_eq!(call(admin, "POST", &drain, None).status, 200);
    let r = call(admin, "POST", "/api/reload", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"result\": \"ok\""), "{}", r.text());
    let up = json(admin, "/api/upstreams");
    assert_eq!(
        up["groups"][0]["servers"][0]["drained"], true,
        "a drain survives a reload of an unchanged group"
    );
    for _ in 0..4 {
        assert_eq!(once(addr, &get("/")).text().trim(), "backend 2");
    }

    broken.store(true, Ordering::SeqCst);
    let r = call(admin, "POST", "/api/reload", None);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("unknown field `max_bodyy`"),
        "{}",
        r.text()
    );
    assert_eq!(
        once(addr, &get("/")).text().trim(),
        "backend 2",
        "the old config serves"
    );
    let text = scrape(admin);
    assert_eq!(
        value(&text, r#"weir_config_reloads_total{result="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"weir_config_reloads_total{result="error"}"#),
        Some(1.0)
    );
    let status = json(admin, "/api/status");
    let kinds: Vec<&str> = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"reload") && kinds.contains(&"reload-failed") && kinds.contains(&"drain"),
        "{kinds:?}"
    );
    handle.stop();
    runner.join().unwrap().unwrap();
}

#[test]
fn up_gauge_follows_a_killed_and_restarted_origin() {
    let args = |listen: &str| {
        vec![
            "backend".to_string(),
            "--listen".into(),
            listen.to_string(),
            "--name".into(),
            "b".into(),
        ]
    };
    let start = |listen: &str| {
        let a = args(listen);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        spawn(&a, "stderr", "listening on")
    };
    let mut origin = start("127.0.0.1:0");
    let other = util::named_backends(1)[0];
    let mut config = util::admin::config(&[origin.addr, other]);
    config.upstream.health = Some(weir::config::Health {
        path: "/".into(),
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        fails: 1,
        passes: 1,
        expect_status: "200-299".into(),
        grpc_service: None,
    });
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let up = format!(
        r#"weir_upstream_server_up{{upstream="default",server="{}"}}"#,
        origin.addr
    );
    let text = wait_for(admin, &up, 1.0, LIMIT);
    assert_eq!(value(&text, &up), Some(1.0));
    let at = origin.addr.to_string();
    origin.child.kill().unwrap();
    origin.child.wait().unwrap();
    let text = wait_for(admin, &up, 0.0, LIMIT);
    assert_eq!(value(&text, &up), Some(0.0), "down after the kill");
    let _again = start(&at);
    let text = wait_for(admin, &up, 1.0, LIMIT);
    assert_eq!(value(&text, &up), Some(1.0), "up after the restart");
    let status = json(admin, "/api/status");
    let events: Vec<String> = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["kind"], e["subject"]))
        .collect();
    assert!(
        events.iter().any(|e| e.starts_with("\"down\"")),
        "{events:?}"
    );
}

#[test]
fn the_admin_flag_follows_the_token_rule() {
    let out = util::bin::run(&["serve", "--upstream", "127.0.0.1:1", "--admin", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin.token"), "{err}");
    let weir = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:1",
            "--admin",
            "127.0.0.1:0",
        ],
        "stderr",
        "listening on",
    );
    let admin = announced(&weir);
    assert_eq!(call(admin, "GET", "/api/upstreams", None).status, 200);
}

#[test]
fn a_real_prometheus_scrapes_weir() {
    let backends = util::named_backends(1);
    let proxy = util::start(util::admin::config(&backends));
    let admin = proxy.admin.unwrap();
    for _ in 0..5 {
        once(proxy.addr, &get("/"));
    }
    let ok = r#"weir_requests_total{route="default",upstream="default",code_class="2xx"}"#;
    wait_for(admin, ok, 5.0, LIMIT);
    let dir = util::bin::temp_dir("prometheus");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 100ms\nscrape_configs:\n  - job_name: weir\n    static_configs:\n      - targets: [\"{admin}\"]\n"
        ),
    )
    .unwrap();
    // Prometheus logs its configured address, not the port `:0` became, so it gets a
    // free one and is up once its own process listens there.
    let spawn = |web: std::net::SocketAddr| {
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package `prometheus`; .ci/run installs it)")
    };
    let (web, mut prom) = start_on_free_port("prometheus", spawn, String::new);
    // Asks Prometheus until it has scraped weir and stored the series.
    let query = "/api/v1/query?query=sum(weir_requests_total%7Bcode_class%3D%222xx%22%7D)";
    let mut last = String::new();
    let seen = poll_until(Duration::from_secs(60), || {
        let req = format!("GET {query} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
        last = once(web, req.as_bytes()).text();
        last.contains(r#""5"]"#)
    });
    let health = {
        let req = "GET /api/v1/targets HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n";
        once(web, req.as_bytes()).text()
    };
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(
        seen,
        "Prometheus stored weir's 5 requests: {last}\n{health}"
    );
    assert!(health.contains(r#""health":"up""#), "{health}");
}

#[test]
fn each_listener_certificates_expiry_is_a_gauge() {
    let dir = util::bin::temp_dir("cert-expiry");
    let ca = util::tls::Ca::new();
    // Expired on 2020-01-01: a known not-after (weir serves it; `weir check` warns).
    let leaf = ca.expired_leaf(&dir, "site", &["localhost"]);
    let mut config = util::admin::config(&[util::backend(weir::backend::Mode::Echo)]);
    let tls = weir::config::ServerTls::single(&leaf.cert, &leaf.key);
    config.listen.push(weir::config::Listener {
        addr: "127.0.0.1:0".parse().unwrap(),
        tls: Some(tls),
        name: None,
        h2: false,
        h2c: false,
        proxy_protocol: None,
        reuse_port: false,
    });
    let proxy = util::start(config);
    let text = scrape(proxy.admin.unwrap());
    let series = format!(
        "weir_tls_certificate_expiry_timestamp_seconds{{listener=\"127.0.0.1:0\",cert=\"{}\"}}",
        leaf.cert.display()
    );
    assert_eq!(value(&text, &series), Some(1_577_836_800.0), "{text}");
}
