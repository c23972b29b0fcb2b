//! Pipelined HTTP/1.1 over TLS: requests that arrive decrypted before weir asks for them.
//!
//! weir waits for a keep-alive client's next request by the socket's readability, unless
//! the TLS state already holds decrypted bytes (`Stream::readable`). When one TLS record
//! carries more requests than weir's first read takes, the rest wait inside rustls and
//! the socket stays quiet: a wait on the socket there would never end.

mod util;

use std::io::{BufReader, Write};

use util::bin::temp_dir;
use util::client::read_response;
use util::tls::{connect, tls_listener, Ca};
use weir::backend::Mode;
use weir::config::ServerTls;

/// Requests in one TLS record: 64 of [`SIZE`] bytes, 8 KiB, twice weir's first read
/// (4 KiB), so after the 32nd response the other 32 requests wait decrypted in rustls.
const COUNT: usize = 64;
/// Each request's size: a divisor of 4 KiB, so a read of 4 KiB ends on a request's end
/// and weir, with nothing left in its own buffer, goes back to waiting.
const SIZE: usize = 128;

/// `GET /n` padded with a header to exactly [`SIZE`] bytes.
fn request(n: usize) -> Vec<u8> {
    let start = format!("GET /{n} HTTP/1.1\r\nHost: a.test\r\nX-Pad: ");
    let pad = SIZE - start.len() - "\r\n\r\n".len();
    let request = format!("{start}{}\r\n\r\n", "p".repeat(pad));
    assert_eq!(request.len(), SIZE);
    request.into_bytes()
}

#[test]
fn pipelined_requests_in_one_record_all_get_answers() {
    let dir = temp_dir("tls-pipelined");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.listen = vec![tls_listener(ServerTls::single(&leaf.cert, &leaf.key))];
    let proxy = util::start(config);

    // `connect` sets a 10 s read timeout: a hang fails the read below, not the run.
    let mut s = connect(proxy.addrs[0], "a.test", ca.client(&[b"http/1.1"])).unwrap();
    let all: Vec<u8> = (0..COUNT).flat_map(request).collect();
    s.write_all(&all).unwrap(); // one write under 16 KiB: one TLS record
    s.flush().unwrap();

    let mut r = BufReader::new(s);
    for n in 0..COUNT {
        let resp = read_response(&mut r, false)
            .unwrap_or_else(|| panic!("no response {n} of {COUNT} pipelined requests"));
        assert_eq!(resp.status, 200, "response {n}");
        let echoed = resp.text();
        assert!(
            echoed.starts_with(&format!("GET /{n} ")),
            "response {n}: {echoed}"
        );
    }
}
