//! The retry buffer (`limits.retry_buffer_bytes`): a request the upstream did not
//! process goes again with the body bytes already sent, then the rest of the client's
//! body. An h2 origin refuses its first stream after reading part of the body
//! (tests/util/h2origin.rs); the group's other server then gets the whole body once,
//! from an HTTP/1.1 client (body sent whole) and an HTTP/2 client (full duplex); a
//! body past the bound is not replayed (502, as before). An HTTP/1.1 origin that closes a
//! kept-alive connection after reading an idempotent PUT gets it again on a new one;
//! a POST in that case is never sent twice.

mod util;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use util::client::{self, Conn};
use util::h2origin::{self, Behaviour, H2Origin};
use util::origin::{self, Reply};
use weir::config::UpstreamProtocol;
use weir::Config;

/// 48 KiB: over one DATA frame (16 KiB) and within the default bound (64 KiB).
const BODY: usize = 48 * 1024;

/// An h2c group of the `refusing` server, first in round-robin order, and `good`
/// (a refused stream goes to another server: the refusing one said "not now").
fn h2c_config(refusing: &H2Origin, good: &H2Origin) -> Config {
    let mut config = util::config(&[refusing.addr, good.addr]);
    config.upstream.protocol = UpstreamProtocol::H2c;
    config
}

fn origins() -> (H2Origin, H2Origin) {
    let refusing = h2origin::h2c("refusing", Behaviour::RefuseFirstAfterData);
    (refusing, h2origin::h2c("good", Behaviour::Serve))
}

fn chunked_post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        .into_bytes();
    for piece in body.chunks(8 * 1024) {
        r.extend(format!("{:x}\r\n", piece.len()).bytes());
        r.extend(piece);
        r.extend(b"\r\n");
    }
    r.extend(b"0\r\n\r\n");
    r
}

/// What the origin's `/hash` answers for `body`.
fn hashed(body: &[u8]) -> String {
    format!("{} {:x}", body.len(), util::fnv(body))
}

/// The refused stream read some of the body, not all of it, and each server took
/// exactly one stream (the good one's answer says it had the whole body).
fn assert_refused_after_part(refusing: &H2Origin, good: &H2Origin) {
    let part = refusing.refused_after();
    assert!(part > 0 && part < BODY, "refused after {part} bytes");
    assert_eq!((refusing.requests(), good.requests()), (1, 1));
}

#[test]
fn a_post_refused_mid_body_is_replayed_whole_from_an_http1_client() {
    let (refusing, good) = origins();
    let proxy = util::start(h2c_config(&refusing, &good));
    let body = util::pattern(BODY, 3);
    let r = Conn::open(proxy.addr).roundtrip(&chunked_post("/hash", &body));
    assert_eq!((r.status, r.text()), (200, hashed(&body)), "{r:?}");
    assert_refused_after_part(&refusing, &good);
}

#[test]
fn a_post_refused_mid_body_is_replayed_whole_from_an_h2_client() {
    let (refusing, good) = origins();
    let mut config = h2c_config(&refusing, &good);
    config.listen = vec![util::h2c_listener()];
    let proxy = util::start(config);
    let (status, text) = smol::block_on(h2_post(proxy.addr, BODY, 5));
    let want = format!("{BODY} {:x}", util::h2client::pattern_hash(BODY, 5));
    assert_eq!((status, text), (200, want));
    assert_refused_after_part(&refusing, &good);
}

#[test]
fn a_body_past_the_bound_is_not_replayed() {
    let (refusing, good) = origins();
    let mut config = h2c_config(&refusing, &good);
    config.limits.retry_buffer_bytes = 4096;
    let proxy = util::start(config);
    let body = util::pattern(BODY, 3);
    let r = Conn::open(proxy.addr).roundtrip(&chunked_post("/hash", &body));
    assert_eq!(r.status, 502, "{r:?}");
    let what = "a POST whose body was used and not kept goes nowhere else";
    assert_eq!((refusing.requests(), good.requests()), (1, 0), "{what}");
}

#[test]
fn an_idempotent_put_closed_on_a_kept_connection_goes_again_with_its_body() {
    // The first request leaves a kept-alive connection; the origin reads the second
    // request on it whole and closes without a byte of answer.
    let (origin, seen) = closes_the_second_request();
    let proxy = util::start(util::config(&[origin.addr]));
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    let body = util::pattern(20_000, 9);
    let r = c.roundtrip(&with_body("PUT", &body));
    assert_eq!((r.status, r.text()), (200, body.len().to_string()), "{r:?}");
    let (first, _closed, again) = (
        origin.next_request(),
        origin.next_request(),
        origin.next_request(),
    );
    assert_eq!(first.method, "GET");
    assert_eq!((again.method.as_str(), again.body == body), ("PUT", true));
    assert_eq!((origin.accepts(), seen.load(Ordering::SeqCst)), (2, 3));
}

#[test]
fn a_post_closed_on_a_kept_connection_is_never_sent_twice() {
    let (origin, seen) = closes_the_second_request();
    let mut config = util::config(&[origin.addr]);
    config.upstream.retries = Some(1);
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&client::get("/")).status, 200);
    let r = c.roundtrip(&with_body("POST", &util::pattern(20_000, 9)));
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "the POST reached the origin once"
    );
}

/// An HTTP/1.1 origin that answers each request with its body's length, except the
/// second, which it reads and then closes its connection on; and its request count.
fn closes_the_second_request() -> (origin::Origin, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let origin = origin::origin(move |req| match count.fetch_add(1, Ordering::SeqCst) {
        1 => Reply::Close,
        _ => origin::ok(req.body.len().to_string().as_bytes()),
    });
    (origin, seen)
}

fn with_body(method: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "{method} /up HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut r = head.into_bytes();
    r.extend_from_slice(body);
    r
}

/// POSTs `len` bytes of `util::pattern(len, seed)` to `/hash` over h2c: the status
/// and the answer's text.
async fn h2_post(addr: SocketAddr, len: usize, seed: u64) -> (u16, String) {
    let send = util::h2client::connect(addr, 65_535).await;
    let mut ready = send.ready().await.expect("stream slot");
    let req = util::h2client::request("POST", "test", "/hash");
    let (response, mut out) = ready.send_request(req, false).expect("send POST");
    let sent = AtomicUsize::new(0);
    util::h2client::send_pattern(&mut out, len, seed, &sent)
        .await
        .expect("request body sent");
    let response = response.await.expect("response head");
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(data) = body.data().await {
        let data = data.expect("response DATA");
        let _ = body.flow_control().release_capacity(data.len());
        text.extend_from_slice(&data);
    }
    (status, String::from_utf8(text).unwrap())
}
