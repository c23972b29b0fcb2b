//! HTTP/2 streams sharing one connection, and flow control both ways, through the real
//! proxy with the `h2` crate's client (util::h2client): 100 concurrent streams spread
//! over three origins, bodies checked by hash; a stream whose origin stalls while 99
//! others complete; a slow upstream stops the client's send window; a slow client stops
//! weir reading the upstream. No timing thresholds: a stall is where a byte count stops
//! moving, and each stalled transfer is then released and checked whole.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future;
use util::h2client::{self, connect, get, read_all, Pattern};
use util::origin::{origin, Reply};
use weir::Config;

/// A proxy with one h2c listener: `stall.test` goes to `stall`, anything else to the
/// group `main` (round-robin over `main`'s servers).
fn proxy(main: &[SocketAddr], stall: SocketAddr) -> util::TestProxy {
    let servers: Vec<String> = main.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
threads = 2
[[middleware]]
builtin = "balancer"
[upstreams.main]
servers = [{}]
[upstreams.stall]
servers = ["{stall}"]
[[routes]]
hosts = ["stall.test"]
upstream = "stall"
[[routes]]
upstream = "main"
"#,
        servers.join(", ")
    );
    util::start(Config::parse(&text, "h2_flow.toml").unwrap_or_else(|e| panic!("{e}")))
}

/// An origin answering every request with `body` and `X-Origin: {name}`.
fn named(name: usize, body: Vec<u8>) -> util::origin::Origin {
    origin(move |_| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nX-Origin: {name}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        Reply::Bytes(r)
    })
}

/// An origin that holds each request until the test sends on the returned channel, then
/// answers `late`; `arrived` counts the requests it holds.
fn stalling(arrived: Arc<AtomicUsize>) -> (util::origin::Origin, Sender<()>) {
    let (release, wait) = channel::<()>();
    let wait = Mutex::new(wait);
    let o = origin(move |_| {
        arrived.fetch_add(1, Ordering::SeqCst);
        let _ = wait.lock().unwrap().recv();
        util::origin::ok(b"late")
    });
    (o, release)
}

/// Waits until `value()` has not moved for `quiet` (read every 20 ms), within 60 s:
/// the value it settled at. How a test sees that a transfer has stopped.
fn settled(value: impl Fn() -> usize, quiet: Duration) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (value(), Instant::now());
    while since.elapsed() < quiet {
        assert!(Instant::now() < deadline, "still moving at {last} bytes");
        thread::sleep(Duration::from_millis(20));
        let now = value();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

const MIB: usize = 1024 * 1024;

#[test]
fn a_hundred_streams_on_one_connection_over_three_origins() {
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|i| util::pattern(100_000 + i, i as u64))
        .collect();
    let origins: Vec<_> = (0..3).map(|i| named(i, bodies[i].clone())).collect();
    let addrs: Vec<SocketAddr> = origins.iter().map(|o| o.addr).collect();
    let (stall, _release) = stalling(Arc::default());
    let p = proxy(&addrs, stall.addr);
    let served = smol::block_on(async {
        let send = connect(p.addr, 1 << 20).await;
        // All 100 requests are sent before any response is read; the responses are
        // read side by side (one after another, a stream's DATA could wait behind the
        // connection window its unread neighbours hold).
        let mut reading = Vec::new();
        for i in 0..100 {
            let response = get(&send, "a.test", &format!("/n{i}")).await;
            reading.push(smol::spawn(async move {
                let res = response.await.expect("a response");
                assert_eq!(res.status(), 200);
                let name: usize = res.headers()["x-origin"].to_str().unwrap().parse().unwrap();
                (name, read_all(res.into_body()).await)
            }));
        }
        let mut served = [0; 3];
        for task in reading {
            let (name, (len, hash)) = task.await;
            assert_eq!(len, bodies[name].len(), "origin {name}'s body length");
            assert_eq!(hash, util::fnv(&bodies[name]), "origin {name}'s body");
            served[name] += 1;
        }
        served
    });
    // Round-robin: 34, 33 and 33 in some order.
    let mut counts = served.to_vec();
    counts.sort();
    assert_eq!(counts, [33, 33, 34], "{served:?}");
    for (i, o) in origins.iter().enumerate() {
        assert_eq!(o.accepts() > 0, served[i] > 0);
    }
}

#[test]
fn a_stalled_stream_does_not_delay_the_others() {
    let origins: Vec<_> = (0..3).map(|i| named(i, format!("o{i}").into())).collect();
    let addrs: Vec<SocketAddr> = origins.iter().map(|o| o.addr).collect();
    let arrived = Arc::new(AtomicUsize::new(0));
    let (stall, release) = stalling(arrived.clone());
    let p = proxy(&addrs, stall.addr);
    smol::block_on(async {
        let send = connect(p.addr, 1 << 20).await;
        let mut stalled = get(&send, "stall.test", "/stall").await;
        // The stalled request has reached its origin, which holds it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while arrived.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "the stalled request never arrived"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        // 99 more streams on the same connection, all answered in full...
        let mut pending = Vec::new();
        for i in 0..99 {
            pending.push(get(&send, "a.test", &format!("/n{i}")).await);
        }
        for response in pending {
            let res = response.await.expect("a response");
            let name = res.headers()["x-origin"].to_str().unwrap().to_string();
            let (_, hash) = read_all(res.into_body()).await;
            assert_eq!(hash, util::fnv(format!("o{name}").as_bytes()));
        }
        // ...while the stalled one is still open, unanswered.
        assert!(
            future::poll_once(&mut stalled).await.is_none(),
            "the stalled stream was answered before its origin was released"
        );
        assert_eq!(arrived.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        let res = stalled.await.expect("the stalled stream's response");
        assert_eq!(res.status(), 200);
        let (len, hash) = read_all(res.into_body()).await;
        assert_eq!((len, hash), (4, util::fnv(b"late")));
    });
}

/// An origin that reads a request head, then waits for the test's word before it
/// reads the body (`Content-Length` long), and answers with the body's length and hash.
fn slow_reader() -> (SocketAddr, Sender<()>, Receiver<(usize, u64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, wait) = channel::<()>();
    let (tx, got) = channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 2 {
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            line.clear();
        }
        let _ = wait.recv();
        let mut hash = util::Fnv::default();
        let mut buf = vec![0; 64 * 1024];
        let mut left = length;
        while left > 0 {
            let n = r.read(&mut buf[..left.min(64 * 1024)]).unwrap();
            assert!(n > 0, "the body ended early");
            hash.update(&buf[..n]);
            left -= n;
        }
        let text = format!("{length} {:x}", hash.0);
        let mut out = stream;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", text.len());
        out.write_all(format!("{head}{text}").as_bytes()).unwrap();
        tx.send((length, hash.0)).unwrap();
    });
    (addr, release, got)
}

#[test]
fn a_slow_upstream_stops_the_clients_send_window() {
    const BODY: usize = 64 * MIB;
    let (up, release, got) = slow_reader();
    let (stall, _r) = stalling(Arc::default());
    let p = proxy(&[up], stall.addr);
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let upload = smol::block_on(async {
        let send = connect(p.addr, 1 << 20).await;
        let mut ready = send.ready().await.unwrap();
        let req = http::Request::post("http://a.test/up")
            .header("content-length", BODY.to_string())
            .body(())
            .unwrap();
        let (response, mut out) = ready.send_request(req, false).unwrap();
        let sending =
            smol::spawn(async move { h2client::send_pattern(&mut out, BODY, 7, &counted).await });
        (response, sending, ready)
    });
    // The origin reads nothing: what the client got to send stops at weir's window and
    // what the sockets between weir and the origin hold.
    let stopped = settled(|| sent.load(Ordering::SeqCst), Duration::from_secs(1));
    eprintln!("the client's window stopped after {stopped} bytes of {BODY}");
    assert!(stopped < 16 * MIB, "{stopped} bytes went before the stop");
    // Once the origin reads, the rest flows and arrives whole.
    release.send(()).unwrap();
    let (response, sending, _conn) = upload;
    smol::block_on(async {
        sending.await.expect("the upload finishes");
        let res = response.await.expect("a response");
        assert_eq!(res.status(), 200);
    });
    let (len, hash) = got.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!((len, hash), (BODY, h2client::pattern_hash(BODY, 7)));
}

/// An origin that answers one request with `len` pattern bytes (seed 9), counting in
/// `written` what its socket has taken.
fn big_writer(len: usize, written: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut out = stream;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
        out.write_all(head.as_bytes()).unwrap();
        let mut pattern = Pattern::new(9);
        let mut left = len;
        while left > 0 {
            let piece = pattern.take(left.min(64 * 1024));
            if out.write_all(&piece).is_err() {
                return;
            }
            left -= piece.len();
            written.fetch_add(piece.len(), Ordering::SeqCst);
        }
    });
    addr
}

#[test]
fn a_slow_client_stops_weir_reading_the_upstream() {
    const BODY: usize = 50 * MIB;
    let written = Arc::new(AtomicUsize::new(0));
    let up = big_writer(BODY, written.clone());
    let (stall, _r) = stalling(Arc::default());
    let p = proxy(&[up], stall.addr);
    // The client's window is h2's default 65,535 bytes, and it gives none back.
    let (send, res) = smol::block_on(async {
        let send = connect(p.addr, 65_535).await;
        let res = get(&send, "a.test", "/big")
            .await
            .await
            .expect("a response");
        (send, res)
    });
    assert_eq!(res.status(), 200);
    let stopped = settled(|| written.load(Ordering::SeqCst), Duration::from_secs(1));
    eprintln!("the origin's writes stopped after {stopped} bytes of {BODY}");
    assert!(stopped < 16 * MIB, "{stopped} bytes left the origin");
    // Reading the body (giving the window back) lets the rest through, whole.
    let (len, hash) = smol::block_on(read_all(res.into_body()));
    assert_eq!((len, hash), (BODY, h2client::pattern_hash(BODY, 9)));
    assert_eq!(written.load(Ordering::SeqCst), BODY);
    drop(send);
}
