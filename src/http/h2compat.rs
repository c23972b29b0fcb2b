//! The one place the `h2` crate meets smol, and the one module that names tokio's I/O
//! traits: a futures-io stream seen through tokio's `AsyncRead`/`AsyncWrite` ([`Io`]).
//! Only tokio's I/O traits are compiled in (no runtime, no reactor): smol drives every
//! future. Both sides use it: clients in `downstream::h2` (through its guarded reader)
//! and servers in `upstream::h2pool` and the h2 health probe.
//!
//! Why not `tokio-util`'s `Compat`: h2 reads into the spare capacity of its buffer,
//! which tokio hands over as uninitialised memory, and `Compat` zeroes all of it before
//! every read (futures-io reads into `&mut [u8]`). That was 12% of weir's instructions
//! per small h2 request: several KiB zeroed to read a frame or two. [`Io`] reads into a
//! per-thread buffer zeroed once and copies in only the bytes read.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use tokio::io::ReadBuf;

use super::read_past_reset::ReadPastReset;
use crate::stream::Stream;

/// The most one read takes: as much as weir's HTTP/1.1 connections read at once.
const READ: usize = 16 * 1024;

thread_local! {
    /// Where reads land before they are copied into h2's buffer: initialised once per
    /// thread, shared by every h2 connection on it (one read runs at a time).
    static LANDING: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ].into_boxed_slice());
}

/// A futures-io stream as the `h2` crate takes it.
pub(crate) struct Io<T>(T);

/// `io` for h2.
pub(crate) fn tokio_io<T: AsyncRead + AsyncWrite + Unpin>(io: T) -> Io<T> {
    Io(io)
}

/// A fresh upstream `stream` (nothing read from it yet) for h2, its reads going on
/// past a write that met a reset, to the server's GOAWAY ([`ReadPastReset`]).
pub(crate) fn fresh(stream: Stream) -> Io<ReadPastReset<Stream>> {
    tokio_io(ReadPastReset::new(stream))
}

impl<T: AsyncRead + Unpin> tokio::io::AsyncRead for Io<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(READ);
        LANDING.with(|landing| match landing.try_borrow_mut() {
            Ok(mut landing) => {
                let read = Pin::new(&mut self.0).poll_read(cx, &mut landing[..want]);
                if let Poll::Ready(Ok(n)) = read {
                    buf.put_slice(&landing[..n]);
                }
                read.map_ok(|_| ())
            }
            // Never while reads do not nest; if one ever did, read as Compat does.
            Err(_) => {
                let read = Pin::new(&mut self.0).poll_read(cx, buf.initialize_unfilled_to(want));
                if let Poll::Ready(Ok(n)) = read {
                    buf.advance(n);
                }
                read.map_ok(|_| ())
            }
        })
    }
}

impl<T: AsyncWrite + Unpin> tokio::io::AsyncWrite for Io<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    /// Yes: every stream weir hands h2 ([`Stream`], plain and TLS, and the client
    /// side's `Prefixed` over it) forwards vectored writes to a `writev` (TLS seals the
    /// slices into one record). h2 asks once, when the connection starts: with `true`
    /// it writes each DATA frame's header and payload in one call, not two
    /// (`CHAIN_THRESHOLD` in h2's `framed_write.rs`), and copies only payloads under
    /// 256 bytes into its buffer, not under 1 KiB.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}
