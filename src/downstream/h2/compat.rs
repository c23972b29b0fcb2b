//! What the `h2` server reads and writes: a client connection handed to
//! [`crate::http::h2compat`] (tokio's I/O traits over smol) through [`Prefixed`].
//!
//! [`Prefixed`] hands out bytes already read before the stream itself: the HTTP/2
//! preface an `h2c` listener read while telling HTTP/2 from HTTP/1. Every byte read
//! passes its [`Guard`] on the way to h2.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

use super::guard::Guard;
use crate::http::conn::Conn;
use crate::http::h2compat;
use crate::stream::Stream;

/// The stream type the `h2` crate serves on.
pub(super) type Io = h2compat::Io<Prefixed>;

/// `conn` for h2: its buffered bytes first, then its stream, watched by `guard`.
pub(super) fn tokio_io(conn: Conn<Stream>, guard: Guard) -> Io {
    h2compat::tokio_io(Prefixed(conn, guard))
}

/// A stream whose first bytes were read already and are handed out first.
pub(super) struct Prefixed(Conn<Stream>, Guard);

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let Prefixed(conn, guard) = &mut *self;
        if guard.tripped() {
            discard(Pin::new(&mut conn.io), cx);
            return Poll::Pending;
        }
        let read = conn.buffered();
        let polled = match read.is_empty() {
            true => Pin::new(&mut conn.io).poll_read(cx, buf),
            false => {
                let n = buf.len().min(read.len());
                buf[..n].copy_from_slice(&read[..n]);
                conn.consume(n);
                Poll::Ready(Ok(n))
            }
        };
        guard.after_read(cx, buf, polled)
    }
}

/// Reads and drops what a tripped client has sent, so the close that follows its
/// GOAWAY finds nothing unread (unread bytes would make the close a reset, which may
/// destroy the GOAWAY before the client reads it); h2 sees none of it.
fn discard(mut io: Pin<&mut Stream>, cx: &mut Context<'_>) {
    let mut sink = [0u8; 4096];
    for _ in 0..64 {
        if !matches!(io.as_mut().poll_read(cx, &mut sink), Poll::Ready(Ok(1..))) {
            return;
        }
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Prefixed(conn, guard) = &mut *self;
        let written = Pin::new(&mut conn.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            guard.after_write(&buf[..n]);
        }
        written
    }

    /// h2 gathers a DATA frame's header and payload into one write of two slices
    /// (`h2compat::Io` says it writes vectored): one `writev`, not two writes.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Prefixed(conn, guard) = &mut *self;
        let written = Pin::new(&mut conn.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = written {
            for buf in bufs {
                let taken = n.min(buf.len());
                guard.after_write(&buf[..taken]);
                n -= taken;
                if n == 0 {
                    break;
                }
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.1.tripped() {
            discard(Pin::new(&mut self.0.io), cx);
        }
        Pin::new(&mut self.0.io).poll_close(cx)
    }
}
