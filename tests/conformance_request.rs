//! Request-side conformance: raw bytes in, the status (or the exact bytes forwarded)
//! out. A recording origin proves what reached it and what did not. Each case names
//! its source: RFC 9112 / RFC 9110 sections, HTTP Garden reports, HAProxy's
//! reg-tests/http-messaging, nginx-tests.

mod util;

use util::client::Conn;
use util::origin::{origin, Origin, Reply};

/// What a case expects.
enum Want {
    /// weir answers with this status and forwards nothing.
    Refused(u16),
    /// The origin receives exactly this head and body (X-Forwarded-* turned off).
    Forwarded(&'static str, &'static [u8]),
}

use Want::{Forwarded, Refused};

struct Case {
    source: &'static str,
    raw: &'static [u8],
    want: Want,
}

const fn case(source: &'static str, raw: &'static [u8], want: Want) -> Case {
    Case { source, raw, want }
}

const CASES: &[Case] = &[
    // ---- Content-Length and Transfer-Encoding (RFC 9112 §6.1-6.3) ----
    case("RFC 9112 §6.3 ¶3; HAProxy reg-tests h1_te_and_cl: CL and TE together", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §6.3 ¶3, TE before CL (TE.CL smuggling)", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n", Refused(400)),
    case("RFC 9112 §6.3 ¶5: differing Content-Length values", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", Refused(400)),
    case("RFC 9110 §8.6: identical CL list collapses to one", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n", b"abc")),
    case("RFC 9110 §8.6; HTTP Garden: CL with a plus sign", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", Refused(400)),
    case("RFC 9110 §8.6; HTTP Garden: CL in hex", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0x3\r\n\r\nabc", Refused(400)),
    case("RFC 9110 §8.6: CL that overflows u64", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n", Refused(400)),
    case("RFC 9110 §8.6: CL with an inner space", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\n", Refused(400)),
    case("RFC 9110 §8.6: empty CL", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n", Refused(400)),
    case("RFC 9110 §8.6: CL with an empty list element", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3,\r\n\r\nabc", Refused(400)),
    case("RFC 9112 §6.1: chunked twice", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §6.1 across two fields: chunked twice", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §6.3 ¶4: final coding not chunked", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", Refused(400)),
    case("RFC 9112 §6.3 ¶4: identity is not a coding any more", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", Refused(400)),
    case("RFC 9112 §6.1, nginx-tests body_chunked.t: unknown coding is 501", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", Refused(501)),
    case("RFC 9112 §6.1: codings split over two fields", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(501)),
    case("RFC 9112 §6.1: TE on HTTP/1.0", b"POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: chunked value with a vertical tab", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: coding names are case-insensitive", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"abc")),
    case("RFC 9112 §6.3 ¶6: no framing headers means no body", b"POST / HTTP/1.1\r\nHost: t\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 9112 §6.2: CL 0 is forwarded as CL 0", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", b"")),
    // ---- Chunked syntax (RFC 9112 §7.1) ----
    case("RFC 9112 §7.1: chunk size in 0x form", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: negative chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: whitespace before the chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: empty chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: chunk size overflows 64 bits", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: chunk data not followed by CRLF", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: chunk data followed by bare LF", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: chunk-size line ended by bare LF", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: junk after the chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1.1: extensions are parsed and dropped", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value;flag\r\nabc\r\n0;last\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"abc")),
    case("RFC 9112 §7.1.1: quoted extension value", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;n=\"a b\"\r\nabc\r\n0\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"abc")),
    case("RFC 9112 §7.1: bare CR before a chunk extension (issue 14)", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r;x\r\nhello\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: two bare CRs before a chunk extension (issue 14)", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r;x\r\nhello\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: form feed before a chunk extension (issue 14)", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\x0c;x\r\nhello\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: vertical tab before a chunk extension", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\x0b;x\r\nhello\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1: bare CR after the chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r\nhello\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1.1: SP and HTAB (BWS) around the extension's ;", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5 \t; x\r\nhello\r\n0\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"hello")),
    case("RFC 9110 §5.6.3: form feed is not OWS in Content-Length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: \x0c3\r\n\r\nabc", Refused(400)),
    case("RFC 9110 §5.6.3: form feed is not OWS in Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n", Refused(400)),
    case("HTTP Garden: control character in an extension", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01b\r\nabc\r\n0\r\n\r\n", Refused(400)),
    case("RFC 9112 §7.1.2: trailers are dropped, not relayed", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: sneaky\r\n\r\n", Forwarded("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"abc")),
    case("RFC 9112 §7.1.2: malformed trailer line", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: a\nb\r\n\r\n", Refused(400)),
    // ---- Field syntax (RFC 9112 §5, RFC 9110 §5) ----
    case("RFC 9112 §5.1: whitespace between name and colon", b"GET / HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n", Refused(400)),
    case("RFC 9112 §5.2: obs-fold in a request", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", Refused(400)),
    case("RFC 9110 §5.5: NUL in a value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", Refused(400)),
    case("RFC 9110 §5.5: bare CR in a value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", Refused(400)),
    case("RFC 9110 §5.1: name that is not a token", b"GET / HTTP/1.1\r\nHost: t\r\nX@A: 1\r\n\r\n", Refused(400)),
    case("RFC 9110 §5.1: empty field name", b"GET / HTTP/1.1\r\nHost: t\r\n: 1\r\n\r\n", Refused(400)),
    case("nginx underscores_in_headers off: names with _ are dropped", b"GET / HTTP/1.1\r\nHost: t\r\nX_Forwarded_For: 6.6.6.6\r\nX-Ok: 1\r\n\r\n", Forwarded("GET / HTTP/1.1\r\nHost: t\r\nX-Ok: 1\r\n\r\n", b"")),
    case("RFC 9112 §2.2: bare LF lines are normalised to CRLF", b"GET /lf HTTP/1.1\nHost: t\nX-A: 1\n\n", Forwarded("GET /lf HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n", b"")),
    case("RFC 9110 §5.5: leading and trailing OWS is trimmed", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: \t v \t\r\n\r\n", Forwarded("GET / HTTP/1.1\r\nHost: t\r\nX-A: v\r\n\r\n", b"")),
    // ---- Request line and target (RFC 9112 §3) ----
    case("RFC 9112 §2.3: HTTP/0.9 simple request", b"GET /\r\n\r\n", Refused(400)),
    case("RFC 9110 §15.6.6: HTTP/2.0 in an HTTP/1 request line", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", Refused(505)),
    case("RFC 9110 §2.5: HTTP/1.2 is served as HTTP/1.1", b"GET /v HTTP/1.2\r\nHost: t\r\n\r\n", Forwarded("GET /v HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 9112 §2.3: version without a minor digit", b"GET / HTTP/2\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §2.3: version is case-sensitive", b"GET / http/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3: two spaces between method and target", b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3: trailing space after the version", b"GET / HTTP/1.1 \r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9110 §9.1: method that is not a token", b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2: whitespace inside the target", b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2, RFC 3986 §3.5; HAProxy: a fragment in the target (issue 14)", b"GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2: a fragment in an absolute-form target", b"GET http://example.org/a#b HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 3986; HAProxy; browsers encode it: raw double quote (issue 14)", b"GET /a\"b HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 3986; HAProxy; browsers encode it: raw < (issue 14)", b"GET /a<b HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 3986; HAProxy; browsers encode it: raw > in the query", b"GET /a?q=> HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("nginx; browsers send it raw in the query: { | } forwarded unchanged", b"GET /a?q={x|y} HTTP/1.1\r\nHost: t\r\n\r\n", Forwarded("GET /a?q={x|y} HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("nginx; browsers send it raw in the path: | and ^ forwarded unchanged", b"GET /a|b^c HTTP/1.1\r\nHost: t\r\n\r\n", Forwarded("GET /a|b^c HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 3986 §2.1: percent-encoded # \" < > are ordinary data", b"GET /a%23b%22%3C%3E HTTP/1.1\r\nHost: t\r\n\r\n", Forwarded("GET /a%23b%22%3C%3E HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 9112 §3.2.2: absolute-form becomes origin-form, Host from it", b"GET http://example.org/p?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n", Forwarded("GET /p?q=1 HTTP/1.1\r\nHost: example.org\r\n\r\n", b"")),
    case("RFC 9112 §3.2.2: absolute-form with an empty path", b"GET http://example.org HTTP/1.1\r\nHost: x\r\n\r\n", Forwarded("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", b"")),
    case("RFC 9110 §4.2.4: userinfo in the target", b"GET http://user@example.org/ HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2.4: * only with OPTIONS", b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2.4: OPTIONS * is forwarded", b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", Forwarded("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 9112 §3.2.3: authority-form (CONNECT) is not proxied", b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2: HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2: two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2; HTTP Garden: Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2; HTTP Garden: Host with a slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Refused(400)),
    case("RFC 9112 §3.2: HTTP/1.0 without Host is upgraded to 1.1", b"GET /old HTTP/1.0\r\n\r\n", Forwarded("GET /old HTTP/1.1\r\nHost: {origin}\r\n\r\n", b"")),
    // ---- Hop-by-hop fields (RFC 9110 §7.6.1) ----
    case("RFC 9110 §7.6.1: Connection-listed fields are removed", b"GET / HTTP/1.1\r\nHost: t\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n", Forwarded("GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 9110 §7.6.1: TE, Keep-Alive, Proxy-* are removed", b"GET / HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\r\n", Forwarded("GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"")),
    case("RFC 9110 §10.1.1: Expect 100-continue is answered, not forwarded", b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", Forwarded("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n", b"hi")),
    case("RFC 9110 §10.1.1: unknown expectation", b"GET / HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n", Refused(417)),
];

fn recording_origin() -> Origin {
    origin(|_| Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()))
}

#[test]
fn request_side_catalogue() {
    let o = recording_origin();
    let mut config = util::config(&[o.addr]);
    config.forwarded.for_ = false;
    config.forwarded.proto = false;
    config.forwarded.host = false;
    config.forwarded.request_id = false;
    let proxy = util::start(config);
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for c in CASES {
        let mut conn = Conn::open(proxy.addr);
        let got = conn.roundtrip(c.raw);
        let seen = o.try_request();
        let verdict = match (&c.want, seen) {
            (Refused(status), None) if got.status == *status => Ok(()),
            (Refused(status), None) => Err(format!("wanted {status}, got {}", got.status)),
            (Refused(_), Some(r)) => Err(format!("was forwarded: {:?}", r.raw_head)),
            (Forwarded(_, _), None) => Err(format!("not forwarded; got {}", got.status)),
            (Forwarded(head, body), Some(r)) => {
                let head = head.replace("{origin}", &o.addr.to_string());
                if r.raw_head == head && r.body == *body && got.status == 200 {
                    Ok(())
                } else {
                    Err(format!(
                        "origin saw {:?} + {:?}",
                        r.raw_head,
                        String::from_utf8_lossy(&r.body)
                    ))
                }
            }
        };
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", c.source));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn a_chunked_error_mid_body_closes_and_the_rest_is_never_a_request() {
    // nginx-tests body_chunked.t: after a bad chunk, the bytes that follow must not be
    // parsed as a pipelined request.
    let o = recording_origin();
    let proxy = util::start(util::config(&[o.addr]));
    let mut conn = Conn::open(proxy.addr);
    let raw = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let r = conn.roundtrip(raw);
    assert_eq!((r.status, r.header("connection")), (400, Some("close")));
    assert!(conn.is_closed());
    while let Some(req) = o.try_request() {
        assert_ne!(
            req.target, "/smuggled",
            "the rest of the bytes became a request"
        );
    }
}
