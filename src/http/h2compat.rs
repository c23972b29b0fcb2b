//! The one place the `h2` crate meets smol: weir's futures-io [`Stream`] seen through
//! tokio's `AsyncRead`/`AsyncWrite` traits by `tokio-util`'s compat layer. Only tokio's
//! I/O traits are compiled in (no runtime, no reactor): smol drives every future.
//!
//! [`Prefixed`] hands out bytes already read before the stream itself: the HTTP/2
//! preface an `h2c` listener read while telling HTTP/2 from HTTP/1. Both sides use this
//! module (clients in `downstream::h2`, servers in `upstream::peer::h2`), so tokio is
//! named here only.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use crate::http::conn::Conn;
use crate::stream::Stream;

/// The stream type the `h2` crate serves on.
pub(crate) type Io = Compat<Prefixed>;

/// `conn` for h2: its buffered bytes first, then its stream.
pub(crate) fn tokio_io(conn: Conn<Stream>) -> Io {
    Prefixed(conn).compat()
}

/// A fresh `stream` (nothing read from it yet) for h2: an upstream connection.
pub(crate) fn fresh(stream: Stream) -> Io {
    tokio_io(Conn::new(stream, 0, 0))
}

/// A stream whose first bytes were read already and are handed out first.
pub(crate) struct Prefixed(Conn<Stream>);

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let conn = &mut self.0;
        let read = conn.buffered();
        if !read.is_empty() {
            let n = buf.len().min(read.len());
            buf[..n].copy_from_slice(&read[..n]);
            conn.consume(n);
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut conn.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.io).poll_close(cx)
    }
}
