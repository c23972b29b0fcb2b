//! An HTTP/2 client for tests that steer flow control: the `h2` crate's own client,
//! run by smol through tokio-util's compat layer (as weir's server side is), h2c with
//! prior knowledge. With it a test opens many streams on one connection, and gives a
//! response's window back only when it means to (or never), which curl cannot do.

use std::future::poll_fn;
use std::net::SocketAddr;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{RecvStream, SendStream};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::Fnv;

/// Opens an h2c connection to `addr` whose streams start with a receive window of
/// `window` bytes; the connection itself runs on smol's global executor.
pub async fn connect(addr: SocketAddr, window: u32) -> SendRequest<Bytes> {
    let tcp = smol::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(window)
        .initial_connection_window_size(window.max(65_535))
        .handshake::<_, Bytes>(tcp.compat())
        .await
        .expect("h2 handshake");
    smol::spawn(async move {
        let _ = conn.await;
    })
    .detach();
    send.ready().await.expect("connection ready")
}

/// A request for `http://{authority}{path}`.
pub fn request(method: &str, authority: &str, path: &str) -> http::Request<()> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://{authority}{path}"))
        .body(())
        .unwrap()
}

/// Sends a GET on a new stream of `send` (waiting for a free stream slot); the
/// response to come.
pub async fn get(send: &SendRequest<Bytes>, authority: &str, path: &str) -> ResponseFuture {
    let mut ready = send.clone().ready().await.expect("stream slot");
    let (response, _) = ready
        .send_request(request("GET", authority, path), true)
        .expect("send GET");
    response
}

/// Reads all of `body`, giving each frame's window back at once: its length and hash.
pub async fn read_all(mut body: RecvStream) -> (usize, u64) {
    let mut hash = Fnv::default();
    let mut len = 0;
    while let Some(data) = body.data().await {
        let data = data.expect("response DATA");
        hash.update(&data);
        len += data.len();
        let _ = body.flow_control().release_capacity(data.len());
    }
    (len, hash.0)
}

/// Sends `len` bytes of `util::pattern(len, seed)` on `out` a window at a time, then ends
/// the stream; `sent` counts what the peer's window let through so far. The pattern is
/// made in pieces, so a 50 MiB body never sits whole in the test's memory.
pub async fn send_pattern(
    out: &mut SendStream<Bytes>,
    len: usize,
    seed: u64,
    sent: &std::sync::atomic::AtomicUsize,
) -> Result<(), h2::Error> {
    let mut pattern = Pattern::new(seed);
    let mut left = len;
    while left > 0 {
        out.reserve_capacity(left.min(1 << 20));
        let room = match poll_fn(|cx| out.poll_capacity(cx)).await {
            Some(room) => room?,
            None => return Err(h2::Error::from(h2::Reason::CANCEL)),
        };
        let n = room.min(left);
        if n == 0 {
            continue;
        }
        out.send_data(Bytes::from(pattern.take(n)), false)?;
        left -= n;
        sent.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
    }
    out.send_data(Bytes::new(), true)
}

/// `util::pattern(_, seed)` produced a piece at a time.
pub struct Pattern(u64);

impl Pattern {
    pub fn new(seed: u64) -> Self {
        Pattern(seed | 1)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let x = &mut self.0;
        (0..n)
            .map(|_| {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                *x as u8
            })
            .collect()
    }
}

/// The FNV hash of `util::pattern(len, seed)`, made in pieces.
pub fn pattern_hash(len: usize, seed: u64) -> u64 {
    let mut p = Pattern::new(seed);
    let mut h = Fnv::default();
    let mut left = len;
    while left > 0 {
        let n = left.min(1 << 20);
        h.update(&p.take(n));
        left -= n;
    }
    h.0
}
