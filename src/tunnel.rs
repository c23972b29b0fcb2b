//! A byte tunnel between client and upstream, after a WebSocket upgrade (101).
//!
//! Bytes flow both ways until either side closes or errors, or nothing moves in either
//! direction for the idle timeout; then both connections are closed, so neither peer is
//! left talking to a half-dead tunnel. Bytes that arrived with the heads (a client frame
//! sent right after the upgrade request, an upstream frame right after the 101) are
//! relayed first.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};

use crate::http::conn::Conn;
use crate::rt;
use crate::stream::Stream;

const PIECE: usize = 16 * 1024;

/// One direction: what `from` has buffered, then everything it sends, into `to`.
async fn pump<R, W>(early: &[u8], mut from: R, mut to: W, clock: &Clock, moved: &AtomicU64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if !early.is_empty() {
        if to.write_all(early).await.is_err() || to.flush().await.is_err() {
            return;
        }
        moved.fetch_add(early.len() as u64, Relaxed);
    }
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            return;
        }
        clock.touch();
        moved.fetch_add(n as u64, Relaxed);
    }
}

/// When bytes last moved, as milliseconds since the tunnel opened (atomic, because the
/// task holding the tunnel may move between executor threads).
struct Clock {
    start: Instant,
    last_ms: AtomicU64,
}

impl Clock {
    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Relaxed);
    }

    fn quiet(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Relaxed)))
    }
}

/// Resolves once nothing has moved for `idle`.
async fn watchdog(idle: Duration, clock: &Clock) {
    loop {
        let quiet = clock.quiet();
        if quiet >= idle {
            return;
        }
        rt::sleep(idle - quiet).await;
    }
}

/// Runs the tunnel to its end; returns the bytes relayed upstream → client.
///
/// Each side is split into a read half and a write half (a TLS stream, unlike a TCP
/// socket, cannot be read and written through shared references at once); both
/// directions run in this one task, so the halves never contend.
pub async fn run(client: &mut Conn<Stream>, upstream: &mut Conn<Stream>, idle: Duration) -> u64 {
    let clock = Clock {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let (down_bytes, up_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    {
        let (c_early, c) = client.parts();
        let (u_early, u) = upstream.parts();
        let (c_read, c_write) = futures_lite::io::split(c);
        let (u_read, u_write) = futures_lite::io::split(u);
        let down = pump(u_early, u_read, c_write, &clock, &down_bytes);
        let up = pump(c_early, c_read, u_write, &clock, &up_bytes);
        down.or(up).or(watchdog(idle, &clock)).await;
    }
    client.io.shutdown_write().await;
    upstream.io.shutdown_write().await;
    down_bytes.load(Relaxed)
}
