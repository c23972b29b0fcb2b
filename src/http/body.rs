//! Streaming a body from one connection to another through a bounded buffer.
//!
//! The source is decoded by its framing (length, chunked, until close) and re-encoded
//! for the destination (raw or chunked). Chunk sizes, extensions and trailers are parsed
//! and dropped, never relayed, so both ends see the framing weir decided on. Data moves
//! through the source connection's own read buffer: no body is ever held whole, and the
//! copy allocates nothing.

use std::io::{self, IoSlice};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::conn::Conn;
use super::framing::Body;
use super::ows;
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

/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer bytes accepted (and dropped) after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

struct Sink<'w, 'p, W> {
    dst: &'w mut W,
    out: Out,
    prefix: &'p [u8],
    timeout: Duration,
}

impl<W: AsyncWrite + Unpin> Sink<'_, '_, W> {
    async fn write(&mut self, bufs: &mut [IoSlice<'_>]) -> Result<(), CopyError> {
        match rt::timeout(self.timeout, write_all_vectored(self.dst, bufs)).await {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(CopyError::Write(e)),
            None => Err(CopyError::Write(io::ErrorKind::TimedOut.into())),
        }
    }

    /// Writes one piece of body data, framed for the destination.
    async fn piece(&mut self, data: &[u8]) -> Result<(), CopyError> {
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
    async fn finish(&mut self) -> Result<(), CopyError> {
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

async fn read_more<S: AsyncRead + Unpin>(src: &mut Conn<S>, t: Duration) -> Result<(), CopyError> {
    match rt::timeout(t, src.fill()).await {
        Some(Ok(0)) => Err(CopyError::Read(ReadError::Truncated)),
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(CopyError::Read(ReadError::Io(e))),
        None => Err(CopyError::Read(ReadError::TimedOut)),
    }
}

/// Buffers up to the next LF and returns the line's length (LF included).
async fn read_line<S: AsyncRead + Unpin>(
    src: &mut Conn<S>,
    t: Duration,
) -> Result<usize, CopyError> {
    loop {
        if let Some(i) = src.buffered().iter().position(|&c| c == b'\n') {
            return Ok(i + 1);
        }
        if src.buffered().len() > MAX_LINE || src.is_full() {
            return Err(CopyError::Read(ReadError::BadChunk("chunk line too long")));
        }
        read_more(src, t).await?;
    }
}

/// Parses `chunk-size [ chunk-ext ] CRLF` strictly: hex digits only (no sign, no `0x`,
/// no spaces before them), at most 16 of them, then only SP or HTAB (BWS) before a `;`,
/// and CRLF exactly: never a bare LF, and never a bare CR or form feed taken for space.
fn parse_chunk_size(line: &[u8]) -> Result<u64, CopyError> {
    let bad = |why| CopyError::Read(ReadError::BadChunk(why));
    let line = line
        .strip_suffix(b"\r\n")
        .ok_or_else(|| bad("chunk line not ended by CRLF"))?;
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad("chunk size has no hex digits"));
    }
    if digits > 16 {
        return Err(bad("chunk size overflows"));
    }
    let rest = &line[digits..];
    let ext = ows::trim_start(rest);
    if !rest.is_empty() && !ext.starts_with(b";") {
        return Err(bad("junk after chunk size"));
    }
    if ext.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
        return Err(bad("control character in chunk extension"));
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| bad("chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| bad("chunk size overflows"))
}

/// Copies exactly `n` bytes of data from `src` to `sink`.
async fn copy_exact<S: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    src: &mut Conn<S>,
    sink: &mut Sink<'_, '_, W>,
    mut n: u64,
    t: Duration,
) -> Result<(), CopyError> {
    while n > 0 {
        if src.buffered().is_empty() {
            read_more(src, t).await?;
        }
        let take = src
            .buffered()
            .len()
            .min(usize::try_from(n).unwrap_or(usize::MAX));
        sink.piece(&src.buffered()[..take]).await?;
        src.consume(take);
        n -= take as u64;
    }
    Ok(())
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
    let mut sink = Sink {
        dst,
        out,
        prefix: opts.prefix,
        timeout: opts.write_timeout,
    };
    let t = opts.read_timeout;
    let over = |total: u64| opts.limit != 0 && total > opts.limit;
    let large = match body {
        Body::Empty => false,
        Body::Length(n) => n > src.capacity() as u64,
        Body::Chunked | Body::UntilClose => true,
    };
    if large {
        // Large pieces move a large body with fewer calls; a body smaller than a piece
        // needs no more room than its own length.
        let room = match body {
            Body::Length(n) => PIECE.min(n.try_into().unwrap_or(PIECE)),
            _ => PIECE,
        };
        src.grow_to(room);
    }
    let mut total = 0u64;
    match body {
        Body::Empty => {}
        Body::Length(n) => {
            if over(n) {
                return Err(CopyError::TooLarge);
            }
            copy_exact(src, &mut sink, n, t).await?;
            total = n;
        }
        Body::UntilClose => loop {
            if src.buffered().is_empty() {
                match read_more(src, t).await {
                    Err(CopyError::Read(ReadError::Truncated)) => break,
                    other => other?,
                }
            }
            let take = src.buffered().len();
            total += take as u64;
            sink.piece(src.buffered()).await?;
            src.consume(take);
        },
        Body::Chunked => loop {
            let len = read_line(src, t).await?;
            let size = parse_chunk_size(&src.buffered()[..len])?;
            src.consume(len);
            if size == 0 {
                skip_trailers(src, t).await?;
                break;
            }
            total += size;
            if over(total) {
                return Err(CopyError::TooLarge);
            }
            copy_exact(src, &mut sink, size, t).await?;
            while src.buffered().len() < 2 {
                read_more(src, t).await?;
            }
            if &src.buffered()[..2] != b"\r\n" {
                return Err(CopyError::Read(ReadError::BadChunk(
                    "chunk data not followed by CRLF",
                )));
            }
            src.consume(2);
        },
    }
    sink.finish().await?;
    Ok(total)
}

/// Reads and drops the trailer section up to its empty line.
async fn skip_trailers<S: AsyncRead + Unpin>(
    src: &mut Conn<S>,
    t: Duration,
) -> Result<(), CopyError> {
    let mut seen = 0;
    loop {
        let len = read_line(src, t).await?;
        let line = &src.buffered()[..len];
        let last = line == b"\r\n";
        if !last && (!line.ends_with(b"\r\n") || line.contains(&0)) {
            return Err(CopyError::Read(ReadError::BadChunk("malformed trailer")));
        }
        src.consume(len);
        seen += len;
        if last {
            return Ok(());
        }
        if seen > MAX_TRAILERS {
            return Err(CopyError::Read(ReadError::BadChunk("trailers too large")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_grammar() {
        assert_eq!(parse_chunk_size(b"1a\r\n").unwrap(), 26);
        assert_eq!(parse_chunk_size(b"A;name=v\r\n").unwrap(), 10);
        assert_eq!(parse_chunk_size(b"0 ;x\r\n").unwrap(), 0);
        for bad in [
            &b"\r\n"[..],
            b"0x10\r\n",
            b"-1\r\n",
            b" 1\r\n",
            b"1\n",
            b"1 2\r\n",
            b"11111111111111111\r\n",
            b"1;\x01\r\n",
        ] {
            assert!(
                parse_chunk_size(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

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
