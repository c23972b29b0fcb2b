//! Upstream failure handling: retries that never replay a sent POST, passive marking
//! down, fail-open, active checks, and a killed origin under concurrent load.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use util::bin::{assert_refused, spawn, temp_dir, write_config};
use util::client::{get, once, Conn};
use util::origin::{ok, origin, Reply};
use util::ports::Refusing;

#[test]
fn a_killed_origin_under_concurrent_load_costs_no_get() {
    let backends: Vec<_> = (1..=3)
        .map(|i| {
            spawn(
                &[
                    "backend",
                    "--listen",
                    "127.0.0.1:0",
                    "--name",
                    &format!("b{i}"),
                ],
                "stderr",
                "listening on",
            )
        })
        .collect();
    let addrs: Vec<_> = backends.iter().map(|b| b.addr).collect();
    let proxy = util::start(util::config(&addrs));
    let (halfway, reached) = channel();
    let failures = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, halfway, failures) = (proxy.addr, halfway.clone(), failures.clone());
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                for i in 0..300 {
                    if i == 100 {
                        halfway.send(()).unwrap();
                    }
                    c.send(&get("/"));
                    match c.read(false) {
                        Some(r) if r.status == 200 => {}
                        _ => {
                            failures.fetch_add(1, Ordering::SeqCst);
                            c = Conn::open(addr);
                        }
                    }
                }
            })
        })
        .collect();
    for _ in 0..4 {
        reached.recv().unwrap();
    }
    let mut backends = backends;
    let mut killed = backends.remove(1);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "a client saw a failed GET"
    );
}

#[test]
fn a_post_is_never_replayed_once_its_bytes_were_sent_but_a_get_is() {
    // A reads each request, then closes without answering.
    let a = origin(|_| Reply::Close);
    let b = origin(|_| ok(b"from b"));
    let mut config = util::config(&[a.addr, b.addr]);
    config.upstream.passive.max_fails = 100; // keep A in rotation
    config.upstream.debug_headers = true;
    let proxy = util::start(config);
    let post = b"POST /pay HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(
        once(proxy.addr, post).status,
        502,
        "the POST went to A and is not retried"
    );
    assert_eq!(a.next_request().method, "POST");
    assert_eq!(once(proxy.addr, &get("/1")).text(), "from b"); // round-robin: B
    let r = once(proxy.addr, &get("/2")); // A: closed without an answer, so retried on B
    assert_eq!(r.text(), "from b");
    let reason = r.header("x-weir-reason").unwrap();
    assert_eq!(reason, format!("rr; retry after closed from {}", a.addr));
    let at_b: Vec<String> = std::iter::from_fn(|| b.try_request())
        .map(|r| r.method)
        .collect();
    assert_eq!(at_b, ["GET", "GET"], "B never saw the POST");
}

#[test]
fn a_refused_server_is_retried_elsewhere_then_left_out() {
    let refusing = Refusing::new();
    let down = refusing.addr;
    let b = origin(|_| ok(b"b"));
    let mut config = util::config(&[down, b.addr]);
    config.upstream.debug_headers = true;
    let proxy = util::start(config);
    let r = once(proxy.addr, &get("/"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-weir-reason").unwrap(),
        format!("rr; retry after refused from {down}")
    );
    assert_eq!(r.header("x-weir-upstream").unwrap(), b.addr.to_string());
    for _ in 0..3 {
        let r = once(proxy.addr, &get("/"));
        assert_eq!(
            r.header("x-weir-reason"),
            Some("rr"),
            "the down server is not tried again"
        );
    }
}

#[test]
fn when_every_server_is_down_weir_fails_open() {
    let first = Arc::new(AtomicBool::new(true));
    let o = origin(move |_| {
        if first.swap(false, Ordering::SeqCst) {
            Reply::Bytes(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec())
        } else {
            ok(b"recovered")
        }
    });
    let mut config = util::config(&[o.addr]);
    config.upstream.passive.fail_on_5xx = true;
    config.upstream.debug_headers = true;
    let proxy = util::start(config);
    assert_eq!(
        once(proxy.addr, &get("/")).status,
        500,
        "a 5xx is relayed, and marks the server down"
    );
    let r = once(proxy.addr, &get("/"));
    assert_eq!((r.status, r.text().as_str()), (200, "recovered"));
    assert_eq!(r.header("x-weir-reason"), Some("fail-open"));
}

#[test]
fn a_server_back_after_a_passive_down_mark_is_logged() {
    // Issue 14: the README says each change of state is logged, but a server that came
    // back after being marked down never was.
    let first = Arc::new(AtomicBool::new(true));
    let o = origin(move |_| {
        if first.swap(false, Ordering::SeqCst) {
            Reply::Bytes(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec())
        } else {
            ok(b"recovered")
        }
    });
    let dir = temp_dir("back-up");
    let path = dir.join("weir.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{}\"]\nfail_on_5xx = true\n",
            o.addr
        ),
    )
    .unwrap();
    let weir = spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    );
    let wait = Duration::from_secs(10);
    assert_eq!(once(weir.addr, &get("/")).status, 500);
    let down = weir.later.wait_for("is down", wait);
    assert!(down.is_some_and(|l| l.contains(&o.addr.to_string())));
    // The only server, down: weir fails open to it, and it answers.
    assert_eq!(once(weir.addr, &get("/")).text(), "recovered");
    let up = weir.later.wait_for("is up again", wait);
    assert_eq!(
        up.as_deref(),
        Some(&*format!(
            "weir: upstream {} is up again: a request succeeded after it was marked down",
            o.addr
        )),
        "{:?}",
        weir.later.snapshot()
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "recovered");
    let ups = weir.later.snapshot();
    assert_eq!(ups.iter().filter(|l| l.contains("is up again")).count(), 1);
}

/// A request sent to a server before it was marked down says nothing of the server
/// since: its answer, however late, must not bring the server back (nginx's rule). A
/// gRPC call still running on a server that had begun to stop did, and the next calls
/// went to it as it closed (bench/profiling.md, "Flaky tests, round six").
#[test]
fn a_slow_answer_to_a_request_sent_before_a_down_mark_does_not_bring_the_server_back() {
    let (arrived_tx, arrived) = channel();
    let (release, release_rx) = channel::<()>();
    let (arrived_tx, release_rx) = (Mutex::new(arrived_tx), Mutex::new(release_rx));
    let o = origin(move |req| match req.target.as_str() {
        "/slow" => {
            arrived_tx.lock().unwrap().send(()).unwrap();
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
            ok(b"slow")
        }
        "/fail" => Reply::Bytes(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec()),
        _ => ok(b"fine"),
    });
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[upstream]\n\
         servers = [\"{}\"]\nfail_on_5xx = true\nfail_timeout = \"60s\"\n",
        o.addr
    );
    let config = weir::Config::parse(&text, "health.toml").unwrap_or_else(|e| panic!("{e}"));
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let up = format!(
        "weir_upstream_server_up{{upstream=\"default\",server=\"{}\"}}",
        o.addr
    );
    let wait = Duration::from_secs(10);

    let addr = proxy.addr;
    let slow = thread::spawn(move || once(addr, &get("/slow")));
    arrived
        .recv_timeout(wait)
        .expect("the slow request reaches the origin");
    assert_eq!(once(proxy.addr, &get("/fail")).status, 500);
    util::admin::wait_for(admin, &up, 0.0, wait);

    release.send(()).unwrap();
    assert_eq!(slow.join().unwrap().text(), "slow");
    let text = util::admin::scrape(admin);
    assert_eq!(
        util::admin::value(&text, &up),
        Some(0.0),
        "still down: {text}"
    );

    // A request sent now (fail-open: the only server) does bring it back.
    assert_eq!(once(proxy.addr, &get("/")).text(), "fine");
    let text = util::admin::wait_for(admin, &up, 1.0, wait);
    assert_eq!(util::admin::value(&text, &up), Some(1.0), "{text}");
}

#[test]
fn active_checks_take_a_server_out_and_bring_it_back() {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let a = origin(move |r| {
        if r.target == "/health" {
            let status = if flag.load(Ordering::SeqCst) {
                "200 OK"
            } else {
                "503 Down"
            };
            Reply::Bytes(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").into_bytes())
        } else {
            ok(b"a")
        }
    });
    let b = origin(|_| ok(b"b"));
    let mut config = util::config(&[a.addr, b.addr]);
    config.upstream.health = Some(weir::config::Health {
        path: "/health".into(),
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        fails: 2,
        passes: 2,
        expect_status: "200-299".into(),
        grpc_service: None,
    });
    let proxy = util::start(config);
    // Waits (by asking, up to 2,000 requests) until the answers settle as wanted.
    let settles = |want_a: bool| {
        let mut streak = 0;
        for _ in 0..2000 {
            let body = once(proxy.addr, &get("/")).text();
            let ok = if want_a { body == "a" } else { body == "b" };
            streak = if ok { streak + 1 } else { 0 };
            if (want_a && streak >= 1) || (!want_a && streak >= 20) {
                return true;
            }
        }
        false
    };
    healthy.store(false, Ordering::SeqCst);
    assert!(settles(false), "A left rotation after failed checks");
    healthy.store(true, Ordering::SeqCst);
    assert!(settles(true), "A came back after good checks");
}

#[test]
fn a_health_path_that_would_inject_into_the_probe_is_refused_naming_its_key() {
    let cases = [
        ("crlf", "[upstream]\nservers = [\"127.0.0.1:9001\"]\nhealth = { path = \"/ok\\r\\nX-Injected: 1\" }\n", "upstream.health.path: \"/ok\\r\\nX-Injected: 1\": '\\r' cannot be in a request target"),
        ("second-request", "[upstreams.web]\nservers = [\"127.0.0.1:9001\"]\nhealth = { path = \"/ HTTP/1.1\\n\\nGET /admin\" }\n", "upstreams.web.health.path: \"/ HTTP/1.1\\n\\nGET /admin\": ' ' cannot be in a request target"),
        ("fragment", "[upstream]\nservers = [\"127.0.0.1:9001\"]\nhealth = { path = \"/ok#x\" }\n", "upstream.health.path: \"/ok#x\": '#'"),
        ("relative", "[upstream]\nservers = [\"127.0.0.1:9001\"]\nhealth = { path = \"ok\" }\n", "upstream.health.path: \"ok\" must start with /"),
    ];
    for (name, text, want) in cases {
        let path = write_config(name, text);
        assert_refused(name, &path, want);
    }
    // Built in code, the same config is refused by `bind`, before any probe is sent.
    let refusing = Refusing::new();
    let mut config = util::config(&[refusing.addr]);
    config.upstream.health = Some(weir::config::Health {
        path: "/ok\r\nX-Injected: 1".into(),
        ..weir::config::Health::default()
    });
    let err = weir::Proxy::new(config).bind().err().expect("refused");
    assert!(err.to_string().contains("upstream.health.path"), "{err}");
}
