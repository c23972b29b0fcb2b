//! Streaming a body from one connection to another through a bounded buffer.
//!
//! The source is decoded by its framing (length, chunked, until close: see
//! [`super::decode`]) and re-encoded for the destination (raw or chunked). Chunk sizes, extensions and trailers are parsed
//! and dropped, never relayed, so both ends see the framing weir decided on. Data moves
//! through the source connection's own read buffer: no body is ever held whole, and the
//! copy allocates nothing.

use std::io::{self, IoSlice};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::conn::Conn;
use super::decode::{Decoder, Source};
use super::framing::Body;
use crate::rt;

/// How the destination is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    /// Bytes as they are: the length is already in the head, or the end is a close.
    Raw,
    /// Chunked transfer coding, ended with a last chunk.
    Chunked,
}

/// Why reading the source side failed.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The source closed before the framing said the body ends.
    Truncated,
    TimedOut,
    /// Chunked syntax the grammar does not allow (RFC 9112 §7.1).
    BadChunk(&'static str),
    /// A client that asked for `100 Continue` could not be told it.
    ContinueFailed,
}

/// Why a copy stopped.
#[derive(Debug)]
pub enum CopyError {
    Read(ReadError),
    /// Writing the destination failed or timed out.
    Write(io::Error),
    /// The body passed the configured size limit.
    TooLarge,
}

/// Knobs for one copy.
#[derive(Clone, Copy)]
pub struct Copy<'a> {
    /// Longest wait for the source to send the next bytes.
    pub read_timeout: Duration,
    /// Longest wait for the destination to take the next bytes.
    pub write_timeout: Duration,
    /// Largest body accepted, 0 for no limit.
    pub limit: u64,
    /// Bytes written before the body (a head), sent with the first piece in one write.
    pub prefix: &'a [u8],
}

/// Buffer size for relaying a body larger than the connection's buffer: fewer, larger
/// reads and writes. HAProxy relays 16 KiB at a time; on this machine 64 KiB pieces gave
/// 1.48x and 256 KiB 1.72x its 1 MiB throughput (bench/profiling.md). The buffer exists
/// only while a large body moves and is given back when the connection idles.
pub const PIECE: usize = 256 * 1024;

/// The destination of a copy: framing, the head still to send, the write timeout.
pub(super) struct Sink<'w, 'p, W> {
    pub(super) dst: &'w mut W,
    pub(super) out: Out,
    prefix: &'p [u8],
    pub(super) timeout: Duration,
}

impl<'w, 'p, W: AsyncWrite + Unpin> Sink<'w, 'p, W> {
    pub(super) fn new(dst: &'w mut W, out: Out, prefix: &'p [u8], timeout: Duration) -> Self {
        Sink {
            dst,
            out,
            prefix,
            timeout,
        }
    }

    /// Sends the prefix (a head) if it has not gone yet with a piece.
    pub(super) async fn send_prefix(&mut self) -> Result<(), CopyError> {
        let prefix = std::mem::take(&mut self.prefix);
        if prefix.is_empty() {
            return Ok(());
        }
        self.write(&mut [IoSlice::new(prefix)]).await
    }

    async fn write(&mut self, bufs: &mut [IoSlice<'_>]) -> Result<(), CopyError> {
        match rt::timeout(self.timeout, write_all_vectored(self.dst, bufs)).await {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(CopyError::Write(e)),
            None => Err(CopyError::Write(io::ErrorKind::TimedOut.into())),
        }
    }

    /// Writes one piece of body data, framed for the destination.
    pub(super) async fn piece(&mut self, data: &[u8]) -> Result<(), CopyError> {
        let prefix = std::mem::take(&mut self.prefix);
        match self.out {
            Out::Raw => {
                self.write(&mut [IoSlice::new(prefix), IoSlice::new(data)])
                    .await
            }
            Out::Chunked => {
                let mut size = [0u8; 20];
                let n = chunk_size_line(data.len(), &mut size);
                self.write(&mut [
                    IoSlice::new(prefix),
                    IoSlice::new(&size[..n]),
                    IoSlice::new(data),
                    IoSlice::new(b"\r\n"),
                ])
                .await
            }
        }
    }

    /// Ends the body: the last chunk for chunked output, and any prefix not yet sent.
    pub(super) async fn finish(&mut self) -> Result<(), CopyError> {
        let prefix = std::mem::take(&mut self.prefix);
        let last: &[u8] = match self.out {
            Out::Chunked => b"0\r\n\r\n",
            Out::Raw => b"",
        };
        if prefix.is_empty() && last.is_empty() {
            return Ok(());
        }
        self.write(&mut [IoSlice::new(prefix), IoSlice::new(last)])
            .await
    }
}

/// Formats `{len:x}\r\n` into `buf`, returning its length.
fn chunk_size_line(len: usize, buf: &mut [u8; 20]) -> usize {
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, slot) in buf[..digits].iter_mut().enumerate() {
        let nibble = (len >> (4 * (digits - 1 - i))) & 0xf;
        *slot = b"0123456789abcdef"[nibble];
    }
    buf[digits] = b'\r';
    buf[digits + 1] = b'\n';
    digits + 2
}

/// Writes every byte of `bufs`, in as few syscalls as the kernel allows.
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut bufs: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    // A TLS stream may still hold records the socket would not take; plain TCP holds none.
    w.flush().await
}

/// Streams one body of framing `body` from `src` to `dst`, returning the payload bytes.
///
/// On any error the caller must not reuse either connection: the framing position is lost.
pub async fn copy<S, W>(
    src: &mut Conn<S>,
    body: Body,
    dst: &mut W,
    out: Out,
    opts: Copy<'_>,
) -> Result<u64, CopyError>
where
    S: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut decoder = Decoder::new(body, opts.limit);
    let mut source = decoder.over(src, opts.read_timeout);
    pipe(&mut source, dst, out, opts.prefix, opts.write_timeout).await
}

/// Streams a decoded body from `src` to `dst`, framed as `out`, after `prefix` (a head,
/// sent with the first piece in one write), each write within `write_timeout`; returns
/// the payload bytes.
pub async fn pipe<B, W>(
    src: &mut B,
    dst: &mut W,
    out: Out,
    prefix: &[u8],
    write_timeout: Duration,
) -> Result<u64, CopyError>
where
    B: Source,
    W: AsyncWrite + Unpin,
{
    let sink = Sink::new(dst, out, prefix, write_timeout);
    copy_loop(src, sink, &mut CopyAll).await
}

/// Another way to move the rest of a body than piece by piece through user space (the
/// splice of [`super::splice`]). The copy loop asks it before each piece it reads, so
/// that one loop serves both ways and a body the other way will not take (or takes only
/// from its second piece on) still ends the same way.
pub(super) trait Rest<B, W> {
    /// Moves what is left of `src`'s body into the sink's destination if it can; returns
    /// the payload bytes it moved, 0 when it did not take the body (the copy loop goes on).
    async fn take(&mut self, src: &mut B, sink: &mut Sink<'_, '_, W>) -> Result<u64, CopyError>;
}

/// No other way: every byte goes through the copy loop. A no-op the compiler removes,
/// so a plain copy costs what it did before the hook.
pub(super) struct CopyAll;

impl<B, W> Rest<B, W> for CopyAll {
    async fn take(&mut self, _: &mut B, _: &mut Sink<'_, '_, W>) -> Result<u64, CopyError> {
        Ok(0)
    }
}

/// The copy loop: each turn offers the rest of the body to `rest`, then reads a piece
/// from `src` and writes it framed; the prefix leaves with the first write. Returns the
/// payload bytes relayed, by either way.
pub(super) async fn copy_loop<B, W>(
    src: &mut B,
    mut sink: Sink<'_, '_, W>,
    rest: &mut impl Rest<B, W>,
) -> Result<u64, CopyError>
where
    B: Source,
    W: AsyncWrite + Unpin,
{
    let mut total = 0u64;
    loop {
        total += rest.take(src, &mut sink).await?;
        let piece = src.piece().await?;
        if piece.is_empty() {
            break;
        }
        let n = piece.len();
        sink.piece(piece).await?;
        src.consume(n);
        total += n as u64;
    }
    sink.finish().await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines() {
        let mut buf = [0u8; 20];
        for (n, want) in [
            (0, "0\r\n"),
            (10, "a\r\n"),
            (4096, "1000\r\n"),
            (255, "ff\r\n"),
        ] {
            let len = chunk_size_line(n, &mut buf);
            assert_eq!(&buf[..len], want.as_bytes());
        }
    }
}
