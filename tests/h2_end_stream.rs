//! How weir ends an h2 response, frame by frame (a raw client, util::h2): a body of a
//! known length ends with its last DATA frame flagged END_STREAM, as nginx and HAProxy
//! send it, not with an empty DATA frame after it; a body of no known length (chunked
//! upstream) still ends whole.

mod util;

use std::net::SocketAddr;

use util::h2::{frame_kinds, read_frame, send_raw, Frame, DATA, END_STREAM, GOOD, HEADERS};
use util::origin::{ok, origin, Reply};
use weir::config::UpstreamProtocol;

/// A proxy with one `h2c` listener in front of the HTTP/1.1 `origin`.
fn proxy(origin: SocketAddr) -> util::TestProxy {
    util::h2c_proxy(origin, UpstreamProtocol::Http1, "")
}

/// The frames of stream 1, up to the one flagged END_STREAM.
fn response(proxy: SocketAddr) -> Vec<Frame> {
    let mut s = send_raw(proxy, GOOD);
    let mut frames = Vec::new();
    while let Some(f) = read_frame(&mut s) {
        if f.stream != 1 {
            continue;
        }
        let end = f.flags & END_STREAM != 0;
        frames.push(f);
        if end {
            return frames;
        }
    }
    panic!("the connection ended before stream 1 did: {frames:?}");
}

#[test]
fn a_body_of_known_length_ends_with_its_last_data_frame() {
    let o = origin(|_| ok(b"hello"));
    let p = proxy(o.addr);
    let frames = response(p.addr);
    assert_eq!(
        frame_kinds(&frames),
        vec![(HEADERS, frames[0].payload.len(), false), (DATA, 5, true)],
        "HEADERS, then one DATA frame of the body that ends the stream: {frames:?}"
    );
    assert_eq!(frames[1].payload, b"hello");
}

#[test]
fn weirs_own_reply_ends_with_its_last_data_frame() {
    let o = origin(|_| Reply::Close);
    let p = proxy(o.addr);
    let frames = response(p.addr);
    assert_eq!(frames.len(), 2, "HEADERS and one DATA frame: {frames:?}");
    assert_eq!(frames[1].kind, DATA);
    assert_eq!(frames[1].payload, b"502 Bad Gateway\n");
    assert_ne!(frames[1].flags & END_STREAM, 0);
}

#[test]
fn a_chunked_body_still_ends_whole() {
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let o = origin(move |_| Reply::Bytes(chunked.to_vec()));
    let p = proxy(o.addr);
    let frames = response(p.addr);
    let body: Vec<u8> = frames
        .iter()
        .filter(|f| f.kind == DATA)
        .flat_map(|f| f.payload.clone())
        .collect();
    assert_eq!(body, b"abcde");
    assert_ne!(frames.last().unwrap().flags & END_STREAM, 0);
}
