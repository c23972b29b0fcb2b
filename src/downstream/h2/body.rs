//! Bodies over an HTTP/2 stream, both ways, under h2 flow control.
//!
//! The request body is a [`Source`] over the stream's DATA frames: the window is given
//! back to the client only as the upstream takes bytes ([`Source::consume`]), so a
//! slow upstream stops the client. The response body goes out a piece at a time, each
//! only once the client's window has room for it ([`send`]), so a slow client stops
//! the upstream read: weir buffers at most one piece per stream, plus the large
//! buffers lent to frames h2 has not written yet (`http::lend`).

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_lite::FutureExt;
use h2::{RecvStream, SendStream};

use crate::http::body::{CopyError, ReadError};
use crate::http::decode::Source;
use crate::http::h2end;
pub(super) use crate::http::h2end::io_error;
use crate::rt;

use super::reset::Answer;

/// Where the request body of one stream stands.
pub(crate) struct RequestBody {
    recv: RecvStream,
    /// The DATA frame being handed out.
    data: Bytes,
    /// The trailer fields that ended the stream, until the upstream side takes them.
    trailers: Option<http::HeaderMap>,
    /// Payload received so far, against `limit` (0: none).
    total: u64,
    limit: u64,
    done: bool,
}

impl RequestBody {
    pub fn new(recv: RecvStream) -> Self {
        let done = recv.is_end_stream();
        RequestBody {
            recv,
            data: Bytes::new(),
            trailers: None,
            total: 0,
            limit: 0,
            done,
        }
    }

    /// The request's HEADERS ended the stream: there is no body at all.
    pub fn ended_with_headers(&self) -> bool {
        self.done && self.total == 0
    }

    pub fn limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Marks `n` bytes of the frame handed out as used, and gives them back to the
    /// client's window. Trailers and the window's bookkeeping are h2's; an error here
    /// means the stream is gone, which the next read reports.
    fn consume(&mut self, n: usize) {
        self.data.advance(n);
        let _ = self.recv.flow_control().release_capacity(n);
    }

    /// The first `n` bytes of the DATA frame handed out, as h2 gave them (no copy),
    /// used as [`consume`](Self::consume) does.
    fn lend(&mut self, n: usize) -> Option<Bytes> {
        if n == 0 || n > self.data.len() {
            return None;
        }
        let data = self.data.split_to(n);
        let _ = self.recv.flow_control().release_capacity(n);
        Some(data)
    }

    /// Waits for the next non-empty DATA frame, or the end of the stream (and its
    /// trailers, kept for the upstream).
    async fn next_frame(&mut self, timeout: Duration) -> Result<(), CopyError> {
        while self.data.is_empty() && !self.done {
            match rt::timeout(timeout, self.recv.data()).await {
                None => return Err(CopyError::Read(ReadError::TimedOut)),
                Some(None) => {
                    self.trailers = h2end::read_trailers(&mut self.recv, timeout).await?;
                    self.done = true;
                }
                Some(Some(Err(e))) => return Err(CopyError::Read(ReadError::Io(io_error(e)))),
                Some(Some(Ok(data))) => {
                    self.total += data.len() as u64;
                    if self.limit != 0 && self.total > self.limit {
                        return Err(CopyError::TooLarge);
                    }
                    self.data = data;
                }
            }
        }
        Ok(())
    }
}

/// The request body taken out of its session, so that it can be sent upstream while
/// the response is relayed back through the session (full duplex: see
/// `upstream::peer::h2stream`).
pub(crate) struct Detached {
    body: RequestBody,
    timeout: Duration,
}

impl Detached {
    pub(super) fn new(body: RequestBody, timeout: Duration) -> Self {
        Detached { body, timeout }
    }

    pub(super) fn into_body(self) -> RequestBody {
        self.body
    }
}

impl Source for Detached {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        self.body.next_frame(self.timeout).await?;
        Ok(&self.body.data)
    }

    fn consume(&mut self, n: usize) {
        self.body.consume(n);
    }

    /// The client's DATA frame itself goes upstream: a copy and an allocation less
    /// per piece (a unary gRPC call's message is one piece).
    fn lend(&mut self, n: usize) -> Option<Bytes> {
        self.body.lend(n)
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        self.body.trailers.take()
    }

    /// The client flagged this piece's DATA frame END_STREAM (h2 has nothing after it
    /// for the stream, no trailers).
    fn last_piece(&self) -> bool {
        !self.body.data.is_empty() && self.body.recv.is_end_stream()
    }
}

/// The request body as the exchange pulls it.
pub(crate) struct Reader<'a> {
    /// `None` while the body is detached (never read then: see `Session::detach_body`).
    body: Option<&'a mut RequestBody>,
    timeout: Duration,
    /// The stream to say `100 Continue` on before the first read (the client sent
    /// `expect: 100-continue` and waits, RFC 9110 §10.1.1), as HTTP/1.1 does lazily.
    go_ahead: Option<&'a Answer>,
}

impl<'a> Reader<'a> {
    /// The body pulled with `timeout` for each DATA frame; `go_ahead` is where to say
    /// `100 Continue` on the first read, when the client waits for it.
    pub fn new(
        body: Option<&'a mut RequestBody>,
        timeout: Duration,
        go_ahead: Option<&'a Answer>,
    ) -> Self {
        Reader {
            body,
            timeout,
            go_ahead,
        }
    }
}

impl Source for Reader<'_> {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        let Some(body) = self.body.as_deref_mut() else {
            let gone = io::Error::other("request body detached");
            return Err(CopyError::Read(ReadError::Io(gone)));
        };
        if let Some(stream) = self.go_ahead.take() {
            let go_ahead = http::Response::builder().status(100).body(());
            let sent = go_ahead.map(|res| stream.send_informational(res));
            if !matches!(sent, Ok(Ok(()))) {
                return Err(CopyError::Read(ReadError::ContinueFailed));
            }
        }
        body.next_frame(self.timeout).await?;
        Ok(&body.data)
    }

    fn consume(&mut self, n: usize) {
        if let Some(body) = self.body.as_deref_mut() {
            body.consume(n);
        }
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        self.body.as_deref_mut().and_then(|b| b.trailers.take())
    }
}

/// A whole body already in memory (weir's own replies).
pub(super) struct Whole<'a>(pub &'a [u8]);

impl Source for Whole<'_> {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        Ok(self.0)
    }

    fn consume(&mut self, n: usize) {
        self.0 = &self.0[n..];
    }
}

/// Sends `body` on `out` and ends the stream, each piece within `timeout` of the
/// client's window opening for it. Returns the bytes sent.
///
/// A body of a declared `length` ends with its last DATA frame flagged END_STREAM, as
/// nginx and HAProxy send it, not with an empty frame after it (a frame more for
/// every small response): the piece that completes the length is held until the
/// source says it is the end, so trailers, if any, still end the stream.
pub(super) async fn send<B: Source>(
    out: &mut SendStream<Bytes>,
    body: &mut B,
    length: Option<u64>,
    timeout: Duration,
) -> Result<u64, CopyError> {
    let mut sent = 0;
    let mut held = Bytes::new();
    loop {
        // The client may reset the stream while the upstream is slow to give a piece.
        let reset = async { Err(reset(out).await) };
        let piece = body.piece().or(reset).await?;
        if piece.is_empty() {
            h2end::finish_with(out, held, body.trailers())?;
            return Ok(sent);
        }
        if !held.is_empty() {
            // More than the declared length: the source decides; send what was held.
            out.send_data(std::mem::take(&mut held), false)
                .map_err(h2end::write_error)?;
        }
        let room = h2end::room(out, piece.len(), timeout).await?;
        if room == 0 {
            continue;
        }
        let Some(data) = take(body, room).await? else {
            continue;
        };
        sent += data.len() as u64;
        match length == Some(sent) {
            true => held = data,
            false => out.send_data(data, false).map_err(h2end::write_error)?,
        }
    }
}

/// The first `room` bytes of `body`'s piece as a frame's payload, used: lent from the
/// source's buffer where it can (a large HTTP/1.1 body: no copy), else copied. The
/// piece is asked for again for the copy (the same piece comes back until used); a
/// source that ended meanwhile (a gRPC deadline) gives `None`.
async fn take<B: Source>(body: &mut B, room: usize) -> Result<Option<Bytes>, CopyError> {
    if let Some(data) = body.lend(room) {
        return Ok(Some(data));
    }
    let piece = body.piece().await?;
    let n = room.min(piece.len());
    if n == 0 {
        return Ok(None);
    }
    let data = Bytes::copy_from_slice(&piece[..n]);
    body.consume(n);
    Ok(Some(data))
}

/// Resolves when the client resets the stream, as the write error it is.
async fn reset(out: &mut SendStream<Bytes>) -> CopyError {
    let _ = poll_fn(|cx| out.poll_reset(cx)).await;
    CopyError::Write(io::ErrorKind::ConnectionReset.into())
}
