//! The h2 peer: one stream on a connection of the multiplexed pool
//! ([`crate::upstream::h2pool`]), under h2 flow control both ways.
//!
//! The request body goes out a piece at a time, each once the server's window has room
//! for it, so a slow server stops the client read; the response body is a [`Source`]
//! over the DATA frames whose window is given back only as the client takes the bytes,
//! so a slow client stops the server. Weir holds at most one piece per stream.
//! An HTTP/2 client's body goes up alongside the wait for the answer and its relay
//! ([`send_duplex`](H2::send_duplex), [`super::duplex`]); any other is sent whole first.
//!
//! A stream the server did not process is told apart ([`Unsent`]): `REFUSED_STREAM`,
//! or a graceful GOAWAY whose last-stream-id is below it (RFC 9113 §6.8, §8.7). The
//! exchange may send the request again, even a POST, when no byte of the client's body
//! was used yet or the retry buffer still holds all that was (`http::replay`). Any
//! other failure is treated as its HTTP/1.1 equivalent (a reset).

use std::future::{poll_fn, Future};
use std::io;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::client::ResponseFuture;
use h2::{Reason, RecvStream, SendStream};

use crate::error::{Error, Kind};
use crate::http::body::{CopyError, ReadError};
use crate::http::decode::Source;
use crate::http::framing::Body;
use crate::http::h2end::{self, io_error, write_error};
use crate::http::parse::ReadHead;
use crate::http::replay::Replay;
use crate::http::{RequestHead, ResponseHead};

use super::super::h2pool::Slot;
use super::duplex::{self, Duplex};
use super::h2head;
use crate::downstream::h2::Detached;

/// Why the server did not process a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unsent {
    /// `RST_STREAM(REFUSED_STREAM)`: this server would not take it now.
    Refused,
    /// The connection is going away (GOAWAY), or was gone when the stream was to open.
    GoingAway,
}

/// One request's stream.
pub(crate) struct H2 {
    slot: Slot,
    /// The connection had served streams before.
    pub reused: bool,
    /// Set when the server did not process the request.
    pub unsent: Option<Unsent>,
    /// Over TLS (`:scheme` https).
    tls: bool,
    response: Option<ResponseFuture>,
    /// The response head, when it arrived while the request body was still going out.
    /// (Boxed: rare, and large against the rest of the peer.)
    answered: Option<Box<http::Response<RecvStream>>>,
    body: ResponseBody,
    /// Client body bytes taken for this stream.
    used: u64,
    /// The request body still going up while the answer comes back (full duplex);
    /// boxed, as most streams have none and the peer is moved around.
    duplex: Option<Box<Duplex>>,
}

impl H2 {
    pub fn new(slot: Slot, tls: bool) -> Self {
        H2 {
            reused: slot.reused,
            slot,
            unsent: None,
            tls,
            response: None,
            answered: None,
            body: ResponseBody::default(),
            used: 0,
            duplex: None,
        }
    }

    /// Opens the stream with `req`'s head; `body` then goes up alongside the wait for
    /// the response and its relay (see [`super::duplex`]), each piece within
    /// `timeout` of the server's window opening for it.
    pub async fn send_duplex(
        &mut self,
        req: &RequestHead,
        framing: Body,
        body: Replay<Detached>,
        timeout: Duration,
    ) -> Result<(), CopyError> {
        self.duplex = Some(Box::new(Duplex::new(body, timeout)));
        let out = self.open(req, framing).await?;
        if let Some(duplex) = self.duplex.as_mut() {
            duplex.start(out);
        }
        Ok(())
    }

    /// The client's body, when this stream took it for full duplex (to send on another
    /// attempt, or give back to the session).
    pub fn reclaim(&mut self) -> Option<Replay<Detached>> {
        self.duplex.as_mut().and_then(|d| d.reclaim())
    }

    /// How the client's body failed while it went up alongside the answer.
    pub fn upload_failed(&mut self) -> Option<CopyError> {
        self.duplex.as_mut().and_then(|d| d.failed.take())
    }

    /// Client body bytes sent on this stream.
    pub fn sent(&self) -> u64 {
        self.used
    }

    /// Opens the stream with `req`'s head (ended at once for an empty body).
    async fn open(
        &mut self,
        req: &RequestHead,
        framing: Body,
    ) -> Result<SendStream<Bytes>, CopyError> {
        let head = h2head::request(req, framing, self.tls)
            .map_err(|why| CopyError::Write(io::Error::new(io::ErrorKind::InvalidInput, why)))?;
        let mut sender = self.slot.sender();
        let ready = poll_fn(|cx| sender.poll_ready(cx)).await;
        let opened = ready.and_then(|()| sender.send_request(head, framing.is_empty()));
        let (response, out) = opened.map_err(|e| {
            // The connection is gone or going: nothing of this request left weir.
            self.slot.retire();
            self.unsent = Some(Unsent::GoingAway);
            write_error(e)
        })?;
        self.response = Some(response);
        Ok(out)
    }

    /// Opens the stream with `req`'s head and sends `body` (framed as `framing`: only
    /// a known length is passed on, as `content-length`). Returns the body bytes sent.
    pub async fn send<B: Source>(
        &mut self,
        req: &RequestHead,
        framing: Body,
        body: &mut B,
        timeout: Duration,
    ) -> Result<u64, CopyError> {
        let mut out = self.open(req, framing).await?;
        if framing.is_empty() {
            return Ok(0);
        }
        let sent = self.send_body(&mut out, body, timeout).await;
        if let Err(CopyError::Write(_)) = &sent {
            // The server may have answered in full before the request's end and
            // closed the stream (RFC 9113 §8.1; gRPC servers do, after a unary call's
            // one message): the answer stands. Or it refused the stream mid-body: its
            // reason is on the response.
            match self.response.as_mut().map(poll_now) {
                Some(Poll::Ready(Ok(answer))) => {
                    self.answered = Some(Box::new(answer));
                    self.response = None;
                    return Ok(self.used);
                }
                Some(Poll::Ready(Err(e))) => self.note(&e),
                _ => {}
            }
        }
        sent
    }

    /// Sends `body` on `out` and ends the stream, each piece within `timeout` of the
    /// server's window opening for it.
    async fn send_body<B: Source>(
        &mut self,
        out: &mut SendStream<Bytes>,
        body: &mut B,
        timeout: Duration,
    ) -> Result<u64, CopyError> {
        let mut sent = 0;
        loop {
            let piece = body.piece().await?;
            if piece.is_empty() {
                h2end::finish(out, body.trailers())?;
                return Ok(sent);
            }
            let room = match sent == 0 && piece.len() <= duplex::UNWAITED {
                // See `duplex::UNWAITED`: h2 holds it until the stream opens.
                true => send_now(out, piece)?,
                false => h2end::send_piece(out, piece, timeout).await?,
            };
            body.consume(room);
            self.used += room as u64;
            sent += room as u64;
        }
    }

    /// Waits for the response head within `timeout` and maps it onto `res`. HTTP/2
    /// interim responses are the `h2` crate's to skip; the head read is the final one.
    pub async fn read_head(
        &mut self,
        res: &mut ResponseHead,
        timeout: Duration,
    ) -> Result<(), ReadHead> {
        let answered = self.answered.take().map(|a| Ok(*a));
        let response = match (answered, self.response.take()) {
            (Some(answer), _) => Some(answer),
            (None, Some(mut response)) => {
                let duplex = self.duplex.as_deref_mut();
                let waited = duplex::wait(duplex, &mut response, timeout, &mut self.used);
                waited.await.map_err(|_| {
                    let why = "the client's request body failed";
                    ReadHead::Failed(Error::new(Kind::ClientGone, why))
                })?
            }
            (None, None) => return Err(ReadHead::Closed),
        };
        match response {
            None => Err(ReadHead::Failed(Error::new(
                Kind::GatewayTimeout,
                "upstream response timed out",
            ))),
            Some(Err(e)) => {
                self.note(&e);
                let what = "upstream h2 stream failed";
                Err(ReadHead::Failed(Error::io(
                    Kind::BadGateway,
                    what,
                    io_error(e),
                )))
            }
            Some(Ok(answer)) => {
                let (mut parts, recv) = answer.into_parts();
                h2head::response(&mut parts, recv.is_end_stream(), res);
                self.body = ResponseBody::new(recv);
                Ok(())
            }
        }
    }

    /// Notes what a stream error says: a GOAWAY retires the connection, and a stream
    /// the server did not process is [`Unsent`] (whether it can go again is the
    /// exchange's call: is the body used so far still kept?).
    fn note(&mut self, e: &h2::Error) {
        if e.is_go_away() {
            self.slot.retire();
        }
        let refused = e.is_remote() && e.is_reset() && e.reason() == Some(Reason::REFUSED_STREAM);
        let gone_away = e.is_remote() && e.is_go_away() && e.reason() == Some(Reason::NO_ERROR);
        if refused || gone_away {
            self.unsent = Some(if refused {
                Unsent::Refused
            } else {
                Unsent::GoingAway
            });
        }
    }

    /// The response body, each DATA frame waited for within `timeout`.
    pub fn body(&mut self, timeout: Duration) -> Reading<'_> {
        Reading {
            body: &mut self.body,
            duplex: self.duplex.as_deref_mut(),
            used: &mut self.used,
            timeout,
        }
    }
}

/// Hands all of `piece` to h2 without waiting for the server's window (h2 sends it
/// within the window): the bytes handed.
fn send_now(out: &mut SendStream<Bytes>, piece: &[u8]) -> Result<usize, CopyError> {
    out.send_data(Bytes::copy_from_slice(piece), false)
        .map_err(write_error)?;
    Ok(piece.len())
}

/// The response future polled once, without waiting.
fn poll_now(response: &mut ResponseFuture) -> Poll<Result<http::Response<RecvStream>, h2::Error>> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    std::pin::Pin::new(response).poll(&mut cx)
}

/// Where a response body stands.
#[derive(Default)]
struct ResponseBody {
    recv: Option<RecvStream>,
    /// The DATA frame being handed out.
    data: Bytes,
    /// The trailer fields that ended the stream, until the client's side takes them.
    trailers: Option<http::HeaderMap>,
    done: bool,
}

impl ResponseBody {
    /// Gives `n` used bytes back to the server's window.
    fn release(&mut self, n: usize) {
        if let Some(recv) = self.recv.as_mut() {
            // An error means the stream is gone, which the next read reports.
            let _ = recv.flow_control().release_capacity(n);
        }
    }

    fn new(recv: RecvStream) -> Self {
        let done = recv.is_end_stream();
        ResponseBody {
            recv: Some(recv),
            data: Bytes::new(),
            trailers: None,
            done,
        }
    }
}

/// The response body as the exchange pulls it.
pub(crate) struct Reading<'a> {
    body: &'a mut ResponseBody,
    /// The request body, moved along while the response is waited for.
    duplex: Option<&'a mut Duplex>,
    used: &'a mut u64,
    timeout: Duration,
}

impl Source for Reading<'_> {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        let body = &mut *self.body;
        while body.data.is_empty() && !body.done {
            let Some(recv) = body.recv.as_mut() else {
                body.done = true;
                break;
            };
            let mut data = poll_fn(|cx| recv.poll_data(cx));
            let duplex = self.duplex.as_deref_mut();
            let waited = duplex::wait(duplex, &mut data, self.timeout, self.used);
            match waited.await? {
                None => return Err(CopyError::Read(ReadError::TimedOut)),
                Some(None) => {
                    body.trailers = h2end::read_trailers(recv, self.timeout).await?;
                    body.done = true;
                    if let Some(duplex) = self.duplex.as_deref_mut() {
                        duplex.stop();
                    }
                }
                Some(Some(Err(e))) => return Err(CopyError::Read(ReadError::Io(io_error(e)))),
                Some(Some(Ok(data))) => body.data = data,
            }
        }
        Ok(&body.data)
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        self.body.trailers.take()
    }

    fn consume(&mut self, n: usize) {
        self.body.data.advance(n);
        self.body.release(n);
    }

    /// The DATA frame's own `Bytes`, as h2 read them: an h2 client's stream takes them
    /// as they are (a copy and an allocation less per piece).
    fn lend(&mut self, n: usize) -> Option<Bytes> {
        if n == 0 || n > self.body.data.len() {
            return None;
        }
        let data = self.body.data.split_to(n);
        self.body.release(n);
        Some(data)
    }
}
