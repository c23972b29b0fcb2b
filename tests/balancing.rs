//! Round-robin through the real proxy: order and smooth weights.

mod util;

use util::client::{get, Conn};

#[test]
fn round_robin_visits_backends_in_order() {
    let backends = util::named_backends(3);
    let proxy = util::start(util::config(&backends));
    // One connection, keep-alive: the balancer still rotates per request.
    let mut c = Conn::open(proxy.addr);
    let answers: Vec<String> = (0..7).map(|_| c.roundtrip(&get("/")).text()).collect();
    let expected: Vec<String> = [1, 2, 3, 1, 2, 3, 1]
        .iter()
        .map(|i| format!("backend {i}\n"))
        .collect();
    assert_eq!(answers, expected);
}

#[test]
fn weights_are_smooth_not_bursty() {
    let backends = util::named_backends(2);
    let mut config = util::config(&backends);
    config.upstream.servers[0].weight = 3;
    let proxy = util::start(config);
    let picks: String = (0..8)
        .map(|_| {
            let body = util::client::once(proxy.addr, &get("/")).text();
            if body == "backend 1\n" {
                'A'
            } else {
                'B'
            }
        })
        .collect();
    // nginx's smooth weighted round-robin: 3:1 is A A B A, never A A A B.
    assert_eq!(picks, "AABAAABA");
}

fn debug_config(
    backends: &[std::net::SocketAddr],
    kind: weir::config::BalancerKind,
) -> weir::Config {
    let mut config = util::config(backends);
    config.upstream.balancer = kind;
    config.upstream.debug_headers = true;
    config
}

#[test]
fn least_conn_avoids_a_server_busy_with_a_slow_request() {
    use std::sync::mpsc::channel;
    use std::sync::Mutex;
    let (release, held) = channel::<()>();
    let (arrived_tx, arrived) = channel::<()>();
    let (held, arrived_tx) = (Mutex::new(held), Mutex::new(arrived_tx));
    let slow = util::origin::origin(move |_| {
        arrived_tx.lock().unwrap().send(()).unwrap();
        held.lock().unwrap().recv().unwrap();
        util::origin::ok(b"slow")
    });
    let fast = util::origin::origin(|_| util::origin::ok(b"fast"));
    let proxy = util::start(debug_config(
        &[slow.addr, fast.addr],
        weir::config::BalancerKind::LeastConn,
    ));
    let mut busy = Conn::open(proxy.addr);
    busy.send(&get("/slow")); // ties rotate from the first server: this one goes to `slow`
    arrived.recv().unwrap();
    // One keep-alive connection: each request is read only after the previous exchange
    // has ended, so its in-flight count is back to 0 (on separate connections another
    // worker thread may pick before this one has finished its bookkeeping).
    let mut quick = Conn::open(proxy.addr);
    for _ in 0..5 {
        let r = quick.roundtrip(&get("/"));
        assert_eq!(r.text(), "fast");
        assert_eq!(r.header("x-weir-reason"), Some("least-conn in_flight=0"));
    }
    release.send(()).unwrap();
    assert_eq!(busy.read(false).unwrap().text(), "slow");
}

#[test]
fn hash_keeps_a_key_on_one_server_and_says_so() {
    let backends = util::named_backends(3);
    let mut config = debug_config(&backends, weir::config::BalancerKind::Hash);
    config.upstream.hash_key = Some(weir::config::HashKey::Header("X-User".into()));
    let proxy = util::start(config);
    for user in ["alice", "bob", "carol"] {
        let ask = format!("GET / HTTP/1.1\r\nHost: t\r\nX-User: {user}\r\n\r\n");
        let first = util::client::once(proxy.addr, ask.as_bytes());
        assert_eq!(
            first.header("x-weir-reason"),
            Some(format!("hash key={user}").as_str())
        );
        for _ in 0..5 {
            assert_eq!(
                util::client::once(proxy.addr, ask.as_bytes()).text(),
                first.text()
            );
        }
    }
    let keyless = util::client::once(proxy.addr, &get("/"));
    assert_eq!(keyless.header("x-weir-reason"), Some("hash key absent, rr"));
}

#[test]
fn p2c_and_random_serve_and_explain() {
    let backends = util::named_backends(2);
    for (kind, prefix) in [
        (weir::config::BalancerKind::P2c, "p2c in_flight="),
        (weir::config::BalancerKind::Random, "random"),
    ] {
        let proxy = util::start(debug_config(&backends, kind));
        for _ in 0..10 {
            let r = util::client::once(proxy.addr, &get("/"));
            assert_eq!(r.status, 200);
            assert!(
                r.header("x-weir-reason").unwrap().starts_with(prefix),
                "{:?}",
                r.header("x-weir-reason")
            );
        }
    }
}

#[test]
fn least_conn_counts_a_request_until_its_body_is_done() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc::channel;
    // Sends the head and half the body at once, the rest only when released.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = listener.local_addr().unwrap();
    let (headed, head_sent) = channel();
    let (release, released) = channel::<()>();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut out = stream;
        out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nsl")
            .unwrap();
        headed.send(()).unwrap();
        released.recv().unwrap();
        out.write_all(b"ow").unwrap();
    });
    let fast = util::origin::origin(|_| util::origin::ok(b"fast"));
    let proxy = util::start(debug_config(
        &[slow, fast.addr],
        weir::config::BalancerKind::LeastConn,
    ));
    let mut busy = Conn::open(proxy.addr);
    busy.send(&get("/slow")); // ties rotate from the first server: this one goes to `slow`
    head_sent.recv().unwrap();
    let mut quick = Conn::open(proxy.addr); // one connection: see the test above
    for _ in 0..5 {
        let r = quick.roundtrip(&get("/"));
        assert_eq!(
            r.text(),
            "fast",
            "the server still streaming a body is busy"
        );
    }
    release.send(()).unwrap();
    assert_eq!(busy.read(false).unwrap().text(), "slow");
}
