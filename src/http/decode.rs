//! A body decoded from its framing, pulled one piece at a time.
//!
//! [`Decoder`] keeps where a body is (in a chunk, between chunks, done) and hands out
//! the data already in the connection's read buffer, so a body moves without a copy
//! into any buffer of its own. Chunk sizes, extensions and trailers are parsed strictly
//! (RFC 9112 §7.1) and dropped. The decoder outlives a [`Decoding`] borrow of its
//! connection, which is how a session knows afterwards whether the body was read to
//! its end (the one fact its keep-alive decision needs).
//!
//! [`Source`] is what the copy in [`super::body`] pulls from: a request body from a
//! client session or a response body from an upstream peer. A session for another
//! protocol (an HTTP/2 stream's DATA frames) is another `Source`, and may end with
//! trailer fields ([`Source::trailers`]).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::AsyncRead;

use super::body::{CopyError, ReadError, PIECE};
use super::conn::Conn;
use super::framing::Body;
use super::ows;
use crate::rt::{self, TcpStream};
use crate::stream::Stream;

/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer bytes accepted (and dropped) after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// A decoded body, pulled a piece at a time.
#[allow(
    async_fn_in_trait,
    reason = "used only with concrete types, never as dyn or across threads generically"
)]
pub trait Source {
    /// The next piece of body data, borrowed from the source's buffer; empty once the
    /// body has ended. The same piece comes back until [`consume`](Self::consume)d.
    async fn piece(&mut self) -> Result<&[u8], CopyError>;

    /// Marks the first `n` bytes of the last piece as used.
    fn consume(&mut self, n: usize);

    /// The first `n` bytes of the last piece as `Bytes` sharing the source's buffer,
    /// marked used; `None` (nothing used) when the source cannot lend them, and the
    /// caller copies. An HTTP/2 client's DATA frames take `Bytes`: a large HTTP/1.1
    /// response body goes out to them without a copy ([`super::lend`]).
    fn lend(&mut self, _n: usize) -> Option<Bytes> {
        None
    }

    /// The trailer fields that came after the body, once [`piece`](Self::piece) has
    /// returned empty; taken, so a second call gives `None`. Only HTTP/2 carries them
    /// through weir (gRPC's status lives there); HTTP/1.1 chunked trailers are parsed
    /// and dropped, so an HTTP/1.1 source has none.
    fn trailers(&mut self) -> Option<http::HeaderMap> {
        None
    }

    /// Whether the piece handed out now is the body's last, with no trailers after it
    /// (`false` when not known). An h2 sender then flags its last DATA frame
    /// END_STREAM rather than sending an empty frame after it.
    fn last_piece(&self) -> bool {
        false
    }

    /// The rest of the body when it is a run of raw bytes still on a plain TCP socket,
    /// none of it buffered (a Content-Length body read past what came with its head),
    /// so that the caller may move it with splice(2) instead of reading it; it then
    /// reports each count moved to [`spliced`](Self::spliced). A body decides before
    /// its first piece, by whether `min` bytes or more are still to come; once it has
    /// started this way it stays so. `None`, the default,
    /// where the bytes must be decoded, seen or kept (chunked, TLS, HTTP/2, a body
    /// kept for a retry): the caller reads pieces as usual.
    fn unread(&mut self, _min: u64) -> Option<Unread<'_>> {
        None
    }

    /// Counts `n` bytes moved from [`unread`](Self::unread)'s socket as used.
    fn spliced(&mut self, _n: u64) {}
}

/// The part of a body still on its socket (see [`Source::unread`]).
pub struct Unread<'a> {
    pub socket: &'a TcpStream,
    /// Body bytes still to come from `socket`.
    pub left: u64,
    /// Longest wait for `socket` to send the next bytes.
    pub timeout: Duration,
}

/// Where the decoder stands in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Nothing read yet: the buffer may grow for a large body first.
    Start,
    /// `left` more bytes of data, then the end (a Content-Length body).
    Length,
    /// Data until the sender ends the stream.
    UntilEnd,
    /// Before a chunk-size line.
    ChunkSize,
    /// `left` more bytes of chunk data, then its CRLF.
    ChunkData,
    /// The body has ended.
    Done,
}

/// The state of one body's decoding.
#[derive(Clone, Copy, Debug)]
pub struct Decoder {
    body: Body,
    at: At,
    left: u64,
    /// Payload bytes decoded so far, against `limit` (0: none).
    total: u64,
    limit: u64,
}

impl Default for Decoder {
    /// A decoder that has not been given a body: not at an end.
    fn default() -> Self {
        Decoder {
            body: Body::Empty,
            at: At::Start,
            left: 0,
            total: 0,
            limit: 0,
        }
    }
}

impl Decoder {
    /// A decoder for a body framed as `body`, refusing more than `limit` bytes (0: any).
    pub fn new(body: Body, limit: u64) -> Self {
        let at = if body.is_empty() { At::Done } else { At::Start };
        Decoder {
            body,
            at,
            left: 0,
            total: 0,
            limit,
        }
    }

    /// The body has been read to its end.
    pub fn is_done(&self) -> bool {
        self.at == At::Done
    }

    /// The decoder pulling from `src`, waiting at most `timeout` for each read.
    pub fn over<'a, S>(&'a mut self, src: &'a mut Conn<S>, timeout: Duration) -> Decoding<'a, S> {
        Decoding {
            src,
            dec: self,
            timeout,
        }
    }

    /// Grows the buffer for a large body (fewer, larger reads) and picks the first state.
    fn start<S>(&mut self, src: &mut Conn<S>) -> Result<(), CopyError> {
        let large = match self.body {
            Body::Empty => false,
            Body::Length(n) => n > src.capacity() as u64,
            Body::Chunked | Body::UntilClose => true,
        };
        if large {
            // A body smaller than a piece needs no more room than its own length.
            let room = match self.body {
                Body::Length(n) => PIECE.min(n.try_into().unwrap_or(PIECE)),
                _ => PIECE,
            };
            src.grow_to(room);
        }
        self.at = match self.body {
            Body::Empty => At::Done,
            Body::Length(n) if self.past_limit(n) => return Err(CopyError::TooLarge),
            Body::Length(n) => {
                self.left = n;
                At::Length
            }
            Body::Chunked => At::ChunkSize,
            Body::UntilClose => At::UntilEnd,
        };
        Ok(())
    }

    fn past_limit(&self, total: u64) -> bool {
        self.limit != 0 && total > self.limit
    }

    /// Reads the next chunk-size line; a last chunk ends the body after its trailers.
    async fn chunk_size<S: AsyncRead + Unpin>(
        &mut self,
        src: &mut Conn<S>,
        t: Duration,
    ) -> Result<(), CopyError> {
        let len = read_line(src, t).await?;
        let size = parse_chunk_size(&src.buffered()[..len])?;
        src.consume(len);
        if size == 0 {
            skip_trailers(src, t).await?;
            self.at = At::Done;
            return Ok(());
        }
        if self.past_limit(self.total + size) {
            return Err(CopyError::TooLarge);
        }
        self.left = size;
        self.at = At::ChunkData;
        Ok(())
    }

    /// The next piece of data from `src` (empty at the end).
    async fn piece<'s, S: AsyncRead + Unpin>(
        &mut self,
        src: &'s mut Conn<S>,
        t: Duration,
    ) -> Result<&'s [u8], CopyError> {
        loop {
            match self.at {
                At::Start => self.start(src)?,
                At::Done => return Ok(&[]),
                At::Length | At::ChunkData if self.left == 0 => self.end_of_data(src, t).await?,
                At::Length | At::ChunkData => {
                    if src.buffered().is_empty() {
                        read_more(src, t).await?;
                    }
                    let left = usize::try_from(self.left).unwrap_or(usize::MAX);
                    let take = src.buffered().len().min(left);
                    return Ok(&src.buffered()[..take]);
                }
                At::UntilEnd if src.buffered().is_empty() => match read_more(src, t).await {
                    Err(CopyError::Read(ReadError::Truncated)) => self.at = At::Done,
                    other => other?,
                },
                At::UntilEnd => return Ok(src.buffered()),
                At::ChunkSize => self.chunk_size(src, t).await?,
            }
        }
    }

    /// After the data of a Content-Length body (its end) or of a chunk (its CRLF).
    async fn end_of_data<S: AsyncRead + Unpin>(
        &mut self,
        src: &mut Conn<S>,
        t: Duration,
    ) -> Result<(), CopyError> {
        if self.at == At::Length {
            self.at = At::Done;
            return Ok(());
        }
        while src.buffered().len() < 2 {
            read_more(src, t).await?;
        }
        if &src.buffered()[..2] != b"\r\n" {
            return Err(CopyError::Read(ReadError::BadChunk(
                "chunk data not followed by CRLF",
            )));
        }
        src.consume(2);
        self.at = At::ChunkSize;
        Ok(())
    }

    /// Marks `n` bytes of the last piece as used.
    fn consume<S>(&mut self, src: &mut Conn<S>, n: usize) {
        src.consume(n);
        self.count(n);
    }

    /// The first `n` bytes of the last piece lent out of `src`'s buffer, if it can.
    fn lend<S>(&mut self, src: &mut Conn<S>, n: usize) -> Option<Bytes> {
        let piece = src.lend(n)?;
        self.count(n);
        Some(piece)
    }

    /// Counts `n` bytes of the last piece as used.
    fn count(&mut self, n: usize) {
        self.count_u64(n as u64);
    }

    fn count_u64(&mut self, n: u64) {
        self.total += n;
        if matches!(self.at, At::Length | At::ChunkData) {
            self.left -= n;
        }
    }

    /// The bytes of a Content-Length body not yet read from `src`, when none is
    /// buffered. A body decides once, before its first piece, whether at least `min` of
    /// it is still to come; if so it starts here without growing the buffer (bytes that
    /// skip it need no room), else it is read piece by piece like any other.
    fn unread<S>(&mut self, src: &Conn<S>, min: u64) -> Option<u64> {
        if self.at == At::Start {
            let Body::Length(n) = self.body else {
                return None;
            };
            let to_come = n.saturating_sub(src.buffered().len() as u64);
            // Over the limit: `piece` says so.
            if to_come < min || self.past_limit(n) {
                return None;
            }
            self.left = n;
            self.at = At::Length;
        }
        let raw = self.at == At::Length && self.left > 0 && src.buffered().is_empty();
        raw.then_some(self.left)
    }
}

/// A [`Decoder`] at work on one connection's buffer.
pub struct Decoding<'a, S> {
    src: &'a mut Conn<S>,
    dec: &'a mut Decoder,
    timeout: Duration,
}

impl<S> Decoding<'_, S> {
    /// The connection the body is read from (to answer on it, say).
    pub fn conn(&mut self) -> &mut Conn<S> {
        self.src
    }
}

impl Decoding<'_, Stream> {
    /// [`Source::unread`] for a body on a weir connection: only a plain TCP one.
    pub fn unread_plain(&mut self, min: u64) -> Option<Unread<'_>> {
        let Stream::Plain(socket) = &self.src.io else {
            return None;
        };
        let left = self.dec.unread(self.src, min)?;
        Some(Unread {
            socket,
            left,
            timeout: self.timeout,
        })
    }

    /// [`Source::spliced`] for [`unread_plain`](Self::unread_plain).
    pub fn spliced_plain(&mut self, n: u64) {
        self.dec.count_u64(n);
    }
}

impl<S: AsyncRead + Unpin> Source for Decoding<'_, S> {
    /// The decoder's own future, not one that awaits it: a layer of `async` costs every
    /// poll of every piece (bench/profiling.md, "Small keep-alive requests, round
    /// seven").
    fn piece(&mut self) -> impl Future<Output = Result<&[u8], CopyError>> {
        self.dec.piece(self.src, self.timeout)
    }

    fn consume(&mut self, n: usize) {
        self.dec.consume(self.src, n);
    }

    fn lend(&mut self, n: usize) -> Option<Bytes> {
        self.dec.lend(self.src, n)
    }
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
}
