//! A body relayed to a weir connection, spliced where it can be.
//!
//! A Content-Length body from a plain TCP socket to a plain TCP socket that nothing in
//! weir needs to see (no TLS on either side, no HTTP/2, no gRPC deadline to cut it
//! short) moves with splice(2) through a pipe (`rt::splice`): the kernel passes the
//! received pages to the pipe and on to the sending socket, so the two copies through
//! user space, and the large buffer the copy loop grows for them, are not needed.
//! Everything else goes through the copy loop of [`super::body`] (which offers the body
//! to the splice before each piece it reads, through its `Rest` hook), and so does the
//! start of a spliced body: the bytes that came with the head are in the buffer
//! already and leave with the head in one write; the splice moves the rest.
//!
//! The splice keeps the copy loop's contract: each wait for the source within its
//! read timeout and for the destination within the write timeout; a source that ends
//! early is `Truncated`, after every byte it did send has been passed on; the count
//! returned is of payload relayed; after any error neither connection may be reused.
//! A body with less than [`MIN`] still to come is copied: a splice costs two system
//! calls a round where a small body costs one read, and its head would leave alone.
//!
//! Only on the epoll backend, whose sockets are weir's own; the portable and tokio
//! backends copy (their readiness would need the same `poll_op` hook first).
//!
//! `splice = false` in the config turns it off: the exchange hands each body to the
//! relay inside a [`Gate`] that keeps its socket from the splice, and every body takes
//! the copy loop.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;

use super::body::{self, CopyError, Out, Rest, Sink};
use super::decode::Source;
use super::framing::Body;
use crate::stream::Stream;

/// The least of a body still to come, after what came with its head, for a splice.
pub const MIN: u64 = 64 * 1024;

/// Whether a body framed as `body` may be spliced at all: a Content-Length of at least
/// [`MIN`]. The rest go to [`super::body::pipe`] without asking their source, which
/// keeps small responses at their instruction count.
pub fn worth(body: Body) -> bool {
    matches!(body, Body::Length(n) if n >= MIN)
}

/// A body as the config lets it be relayed: with `open` false, [`Source::unread`]
/// answers `None`, so the relay reads every piece (`splice = false`); otherwise, and in
/// everything else, the body's own answers.
pub struct Gate<B> {
    body: B,
    open: bool,
}

impl<B> Gate<B> {
    pub fn new(body: B, open: bool) -> Self {
        Gate { body, open }
    }
}

impl<B: Source> Source for Gate<B> {
    /// The body's own future: a layer of `async` would cost every poll of every piece.
    fn piece(&mut self) -> impl Future<Output = Result<&[u8], CopyError>> {
        self.body.piece()
    }

    fn consume(&mut self, n: usize) {
        self.body.consume(n);
    }

    fn lend(&mut self, n: usize) -> Option<Bytes> {
        self.body.lend(n)
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        self.body.trailers()
    }

    fn last_piece(&self) -> bool {
        self.body.last_piece()
    }

    fn unread(&mut self, min: u64) -> Option<super::decode::Unread<'_>> {
        match self.open {
            true => self.body.unread(min),
            false => None,
        }
    }

    fn spliced(&mut self, n: u64) {
        self.body.spliced(n);
    }
}

/// Body bytes relayed by splice since the process started, by every proxy in it:
/// `weir_body_bytes_spliced_total` in `/metrics`, so that an operator can see the
/// fast path taken (one relaxed add per spliced body).
static SPLICED: AtomicU64 = AtomicU64::new(0);

/// Body bytes relayed by splice so far in this process.
pub fn spliced_bytes() -> u64 {
    SPLICED.load(Relaxed)
}

/// [`super::body::pipe`] to a weir connection: the same copy loop, but the rest of a raw
/// body goes by splice(2) when the module docs allow it.
pub async fn pipe<B: Source>(
    src: &mut B,
    dst: &mut Stream,
    out: Out,
    prefix: &[u8],
    write_timeout: Duration,
) -> Result<u64, CopyError> {
    let sink = Sink::new(dst, out, prefix, write_timeout);
    body::copy_loop(src, sink, &mut Splice).await
}

/// The copy loop's other way for the rest of a body: a splice through a pipe.
struct Splice;

impl<B: Source> Rest<B, Stream> for Splice {
    /// Splices what is left of `src`'s body into the sink's socket, if both allow it;
    /// returns the bytes moved (0 when not spliced: the copy loop goes on).
    async fn take(
        &mut self,
        src: &mut B,
        sink: &mut Sink<'_, '_, Stream>,
    ) -> Result<u64, CopyError> {
        if sink.out != Out::Raw
            || !crate::rt::splice::AVAILABLE
            || !matches!(sink.dst, Stream::Plain(_))
        {
            return Ok(0);
        }
        let Some(unread) = src.unread(MIN) else {
            return Ok(0);
        };
        // No pipe (descriptors short): the copy loop reads the rest.
        let Ok(mut pipe) = crate::rt::splice::Pipe::take() else {
            return Ok(0);
        };
        sink.send_prefix().await?;
        let Stream::Plain(to) = &*sink.dst else {
            unreachable!("checked above");
        };
        let (moved, result) = relay::run(&mut pipe, unread, to, sink.timeout).await;
        pipe.give_back();
        src.spliced(moved);
        SPLICED.fetch_add(moved, Relaxed);
        result.map(|()| moved)
    }
}

mod relay {
    use std::io;
    use std::time::Duration;

    use crate::http::body::{CopyError, ReadError};
    use crate::http::decode::Unread;
    use crate::rt::{self, splice::Pipe, TcpStream};

    /// Moves `from.left` bytes from `from.socket` through `pipe` to `to`: fill the pipe,
    /// empty it, again. Returns the bytes delivered to `to`, and how it ended.
    pub async fn run(
        pipe: &mut Pipe,
        from: Unread<'_>,
        to: &TcpStream,
        write_timeout: Duration,
    ) -> (u64, Result<(), CopyError>) {
        let mut moved = 0u64;
        while moved < from.left {
            let max = usize::try_from(from.left - moved).unwrap_or(usize::MAX);
            if let Err(e) = fill(pipe, &from, max).await {
                return (moved, Err(e));
            }
            while pipe.held() > 0 {
                match rt::timeout(write_timeout, pipe.drain(to)).await {
                    Some(Ok(n)) => moved += n as u64,
                    Some(Err(e)) => return (moved, Err(CopyError::Write(e))),
                    None => return (moved, Err(timed_out())),
                }
            }
        }
        (moved, Ok(()))
    }

    /// Fills the pipe with up to `max` bytes, classified as the copy loop's reads are.
    async fn fill(pipe: &mut Pipe, from: &Unread<'_>, max: usize) -> Result<(), CopyError> {
        match rt::timeout(from.timeout, pipe.fill(from.socket, max)).await {
            Some(Ok(0)) => Err(CopyError::Read(ReadError::Truncated)),
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(CopyError::Read(ReadError::Io(e))),
            None => Err(CopyError::Read(ReadError::TimedOut)),
        }
    }

    fn timed_out() -> CopyError {
        CopyError::Write(io::ErrorKind::TimedOut.into())
    }
}
