//! Response-side conformance: an origin sends exact bytes; the test checks what the
//! client receives and whether weir reused the upstream connection. A bad response is
//! 502 before any byte reaches the client, or a close (never a completed message)
//! once the head is out; bytes past the framing are never relayed or reused.

mod util;

use util::client::{get, Conn};
use util::origin::{origin, Reply};

enum Want {
    /// The client gets this status.
    Status(u16),
    /// The client gets 200 with exactly this body.
    Body(&'static [u8]),
    /// The client never gets a complete response: the connection closes mid-message.
    Truncated,
}

use Want::{Body, Status, Truncated};

struct Case {
    source: &'static str,
    origin: &'static [u8],
    /// The origin closes after sending.
    closes: bool,
    want: Want,
    /// Whether weir may keep the upstream connection for the next request.
    reusable: bool,
    /// Header names that must not reach the client.
    absent: &'static [&'static str],
}

const fn case(
    source: &'static str,
    origin: &'static [u8],
    closes: bool,
    want: Want,
    reusable: bool,
) -> Case {
    Case {
        source,
        origin,
        closes,
        want,
        reusable,
        absent: &[],
    }
}

const CASES: &[Case] = &[
    case("RFC 9112 §6.3 ¶3: response with CL and TE", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, Status(502), false),
    case("RFC 9112 §6.3 ¶5: differing CL in a response", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", false, Status(502), false),
    case("RFC 9112 §6.3 ¶5: non-numeric CL in a response", b"HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc", false, Status(502), false),
    case("RFC 9112 §6.1: response coding weir cannot frame", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", true, Status(502), false),
    case("RFC 9110 §5.5; HTTP Garden: NUL in a response field", b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok", false, Status(502), false),
    case("RFC 9110 §5.5: bare CR in a response field", b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok", false, Status(502), false),
    case("RFC 9112 §5.2: obs-fold in a response", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok", false, Status(502), false),
    case("RFC 9112 §5.1: whitespace before the colon in a response", b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 2\r\n\r\nok", false, Status(502), false),
    case("RFC 9112 §4: two-digit status", b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok", false, Status(502), false),
    case("RFC 9112 §4: status line without a code", b"HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok", false, Status(502), false),
    case("RFC 9112 §2.3: HTTP/0.9-style bare body", b"hello there\r\n\r\n", true, Status(502), false),
    case("HAProxy reg-tests h1_resp_extra_data: bytes past Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!", false, Body(b"ok"), false),
    case("RFC 9112 §8: truncated Content-Length body", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, Truncated, false),
    case("RFC 9112 §8: truncated chunked body", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", true, Truncated, false),
    case("RFC 9112 §7.1: bad chunk size in a response", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n\r\n", false, Truncated, false),
    case("RFC 9112 §7.1: chunk size overflow in a response", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n", false, Truncated, false),
    case("RFC 9112 §7.1.1-2: extensions and trailers are dropped", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n", false, Body(b"abc"), true),
    case("RFC 9110 §8.6: identical CL list in a response", b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false, Body(b"ok"), true),
    case("RFC 9110 §6.4.1: 204 carries no body; extra bytes are not relayed", b"HTTP/1.1 204 No Content\r\n\r\nabc", false, Status(204), false),
    case("RFC 9112 §6.3 ¶8: HTTP/1.0 response delimited by close", b"HTTP/1.0 200 OK\r\n\r\nold style", true, Body(b"old style"), false),
    case("RFC 9112 §9.3: HTTP/1.0 response closes by default", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, Body(b"ok"), false),
    case("RFC 9112 §9.6: origin's Connection: close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false, Body(b"ok"), false),
    case("RFC 9112 §9.3: a clean exchange keeps the connection", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, Body(b"ok"), true),
    Case {
        source: "RFC 9110 §7.6.1: Connection-listed response fields are removed",
        origin: b"HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
        closes: false,
        want: Body(b"ok"),
        reusable: true,
        absent: &["x-internal", "keep-alive", "connection"],
    },
];

fn run_case(c: &Case) -> Result<(), String> {
    let bytes = c.origin;
    let closes = c.closes;
    let o = origin(move |_| {
        if closes {
            Reply::BytesThenClose(bytes.to_vec())
        } else {
            Reply::Bytes(bytes.to_vec())
        }
    });
    let proxy = util::start(util::config(&[o.addr]));
    let mut conn = Conn::open(proxy.addr);
    conn.send(&get("/"));
    let got = conn.read(false);
    match (&c.want, &got) {
        (Status(s), Some(r)) if r.status == *s => {}
        (Body(b), Some(r)) if r.status == 200 && r.body == *b => {}
        (Truncated, None) => {}
        (_, got) => {
            return Err(format!(
                "got {:?}",
                got.as_ref().map(|r| (r.status, r.text()))
            ))
        }
    }
    if let Some(r) = &got {
        if let Some(h) = c.absent.iter().find(|h| r.header(h).is_some()) {
            return Err(format!("{h} reached the client"));
        }
    }
    // A second request shows whether the first upstream connection was kept. It goes
    // on the same client connection when that is still open: the same task then checks
    // the upstream connection in before it reads the next request.
    let client_open = got
        .as_ref()
        .is_some_and(|r| r.header("connection") != Some("close"));
    let mut again = if client_open {
        conn
    } else {
        Conn::open(proxy.addr)
    };
    again.send(&get("/again"));
    let _ = again.read(false);
    let reused = o.accepts() == 1;
    if reused != c.reusable {
        return Err(format!(
            "upstream connection reused: {reused}, wanted {}",
            c.reusable
        ));
    }
    Ok(())
}

#[test]
fn response_side_catalogue() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|c| run_case(c).err().map(|why| format!("{}: {why}", c.source)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// RFC 9110 §15.2: a proxy forwards interim responses, except to an HTTP/1.0 client and
/// except a `100 Continue` (weir answers `Expect` itself). Hop-by-hop fields are removed
/// from them like from a final response, and the upstream connection is kept.
#[test]
fn interim_responses_reach_http11_clients_only() {
    const INTERIM: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
        HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n\
        HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let o = origin(|_| Reply::Bytes(INTERIM.to_vec()));
    let proxy = util::start(util::config(&[o.addr]));

    let mut conn = Conn::open(proxy.addr);
    let got = conn.roundtrip(&get("/"));
    assert_eq!((got.status, got.text().as_str()), (200, "ok"));
    let interim: Vec<_> = got
        .interim
        .iter()
        .map(|r| (r.status, r.header("link"), r.header("x-hop")))
        .collect();
    assert_eq!(
        interim,
        [
            (103, Some("</s.css>; rel=preload"), None),
            (103, Some("</a.js>; rel=preload"), None)
        ]
    );

    // The next request on the same client connection starts only once the first
    // exchange is over, upstream check-in included: it must reuse that connection.
    let again = conn.roundtrip(&get("/"));
    assert_eq!((again.status, again.text().as_str()), (200, "ok"));
    assert_eq!(o.accepts(), 1, "the upstream connection was not kept");

    let old = Conn::open(proxy.addr).roundtrip(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n");
    assert_eq!((old.status, old.text().as_str()), (200, "ok"));
    assert!(old.interim.is_empty(), "1xx sent to an HTTP/1.0 client");
}
