//! The lab's examples do what docs/lab.md says they do, against real backends on
//! 127.0.0.1 (each example runs as its own process, on a port the OS picks).

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use util::client::{get, once};
use util::examples::run;
use util::ports::Refusing;
use weir::backend::Mode;

/// Sends raw bytes, closes our side, and returns everything the server answered.
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn hello_socket_answers_and_survives_a_client_that_is_not_text() {
    let hello = run("hello_socket", &["127.0.0.1:0"]);
    let r = once(hello.addr, &get("/hi"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello! you asked for GET /hi\n");
    assert_eq!(r.header("connection"), Some("close"));

    // A request line that is not UTF-8: read_line fails. The server must log it and
    // carry on (before, the `?` in the accept loop ended main).
    let answer = raw(hello.addr, b"\xff\xfe / HTTP/1.1\r\n\r\n");
    assert_eq!(answer, "", "no answer to bytes that are not text");
    // A client that gives up mid-head.
    drop(TcpStream::connect(hello.addr).unwrap());
    let r = once(hello.addr, &get("/still-here"));
    assert_eq!(r.text(), "hello! you asked for GET /still-here\n");
}

#[test]
fn socket_proxy_forwards_the_request_and_relays_the_answer() {
    let echo = util::backend(Mode::Echo);
    let proxy = run("socket_proxy", &["127.0.0.1:0", &echo.to_string()]);
    let r = once(
        proxy.addr,
        b"POST /form HTTP/1.1\r\nHost: lab\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    // The echo backend answers with the head it received, then the body: the request
    // arrived whole, with our Connection: close instead of the client's.
    assert_eq!(
        r.text(),
        "POST /form HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    // One request per connection: the toy closes after every answer.
    let mut c = util::client::Conn::open(proxy.addr);
    c.roundtrip(&get("/"));
    assert!(c.is_closed(), "no keep-alive in the toy");
}

#[test]
fn socket_proxy_answers_502_when_the_backend_is_down() {
    let down = Refusing::new();
    let closed = down.addr;
    let proxy = run("socket_proxy", &["127.0.0.1:0", &closed.to_string()]);
    let r = once(proxy.addr, &get("/"));
    assert_eq!(r.status, 502);
    assert!(
        r.text().starts_with(&format!("cannot reach {closed}")),
        "{}",
        r.text()
    );
    // A failed exchange ends that exchange only: the proxy is still there for the next.
    let r = once(proxy.addr, &get("/"));
    assert_eq!(r.status, 502);
}

/// What the test above relies on: the down backend's address refuses, and no other
/// test can start listening there meanwhile (a port bound and freed could be taken).
#[test]
fn a_refusing_address_refuses_and_cannot_be_taken_while_held() {
    let down = Refusing::new();
    let err = TcpStream::connect(down.addr).expect_err("nothing listens");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let taken = std::net::TcpListener::bind(down.addr);
    assert!(taken.is_err(), "another listener took {}", down.addr);
}

#[test]
fn socket_round_robin_takes_each_backend_in_turn() {
    let b: Vec<String> = util::named_backends(3)
        .iter()
        .map(|a| a.to_string())
        .collect();
    let lb = run("socket_round_robin", &["127.0.0.1:0", &b[0], &b[1], &b[2]]);
    let answers: Vec<String> = (0..7).map(|_| once(lb.addr, &get("/")).text()).collect();
    assert_eq!(
        answers,
        [
            "backend 1\n",
            "backend 2\n",
            "backend 3\n",
            "backend 1\n",
            "backend 2\n",
            "backend 3\n",
            "backend 1\n"
        ]
    );
}
