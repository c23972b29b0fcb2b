//! Slow and stuck peers: slowloris, stalled bodies, silent origins, and the
//! connection limit. None of them may hold weir hostage.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use util::bin::spawn;
use util::client::{get, once, Conn};
use util::origin::{ok, origin, Reply};

#[test]
fn five_hundred_slowloris_connections_do_not_stop_a_normal_client() {
    let o = origin(|_| ok(b"served"));
    let upstream = o.addr.to_string();
    // A separate process, so the 500 sockets on each side stay within default fd limits.
    let weir = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--threads",
            "1",
        ],
        "stderr",
        "listening on",
    );
    let mut slow: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = TcpStream::connect(weir.addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
            s
        })
        .collect();
    for round in 0..3 {
        for s in &mut slow {
            let _ = s.write_all(b"s"); // one more byte each: still never a full head
        }
        for _ in 0..10 {
            assert_eq!(once(weir.addr, &get("/")).text(), "served", "round {round}");
        }
    }
}

#[test]
fn a_client_that_stalls_mid_body_is_cut_off_after_client_body_timeout() {
    let o = origin(|_| ok(b"never"));
    let mut config = util::config(&[o.addr]);
    config.timeouts.client_body = Duration::from_millis(300);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a part");
    assert!(c.is_closed(), "the stalled client's connection is closed");
    assert!(
        o.try_request().is_none(),
        "the origin never got a complete request"
    );
}

#[test]
fn an_origin_that_stalls_mid_body_is_cut_off_and_the_client_sees_a_close() {
    let o =
        origin(|_| Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec()));
    let mut config = util::config(&[o.addr]);
    config.timeouts.upstream_read = Duration::from_millis(300);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    c.send(&get("/"));
    assert!(
        c.read(false).is_none(),
        "an incomplete response is never completed"
    );
}

#[test]
fn past_max_connections_a_client_waits_while_every_seat_is_mid_request() {
    let o = origin(|_| ok(b"hi"));
    let mut config = util::config(&[o.addr]);
    config.limits.max_connections = 1;
    let proxy = util::start(config);
    // Seated first (a listener per thread could otherwise accept the second client
    // before the first), then mid-request: half a head sent. Such a connection is never
    // asked to make room.
    let mut first = Conn::open(proxy.addr);
    first.send(&get("/"));
    assert_eq!(first.read(false).expect("first seated").text(), "hi");
    first.send(b"GET / HTTP/1.1\r\nHo");
    let mut second = TcpStream::connect(proxy.addr).unwrap(); // waits for a seat
    second.write_all(&get("/")).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = second.read(&mut byte);
    assert!(waited.is_err(), "served past the limit: {waited:?}");
    // The first request completes, untouched; once it is done the seat is given up.
    first.send(b"st: test\r\n\r\n");
    assert_eq!(first.read(false).expect("first served").text(), "hi");
    second
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = std::io::BufReader::new(second);
    let r = util::client::read_response(&mut reader, false).expect("served once a seat is free");
    assert_eq!(r.body, b"hi");
    assert!(first.is_closed(), "the idle first client gave up its seat");
}
