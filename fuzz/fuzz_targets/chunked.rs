//! The chunked decoder: arbitrary bytes as a chunked body, relayed re-chunked and raw.
//! Never panic; what comes out re-chunked decodes back to what came out raw.
#![no_main]

use std::time::Duration;

use futures_lite::future::block_on;
use futures_lite::io::Cursor;
use libfuzzer_sys::fuzz_target;
use weir::http::body::{copy, Copy, Out};
use weir::http::conn::Conn;
use weir::http::framing::Body;

fn relay(data: &[u8], out: Out) -> Option<Vec<u8>> {
    let mut src = Conn::new(Cursor::new(data.to_vec()), 64, 4096);
    let mut dst = Vec::new();
    let opts = Copy { read_timeout: Duration::from_secs(1), write_timeout: Duration::from_secs(1), limit: 0, prefix: b"" };
    block_on(copy(&mut src, Body::Chunked, &mut dst, out, opts)).ok()?;
    Some(dst)
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = relay(data, Out::Raw) else { return };
    let rechunked = relay(data, Out::Chunked).expect("same input decodes twice");
    let again = relay(&rechunked, Out::Raw).expect("our own chunking decodes");
    assert_eq!(raw, again);
});
