//! [`Session`] for one HTTP/2 stream: one request, one response, then the stream ends.
//!
//! Keep-alive is not a stream's question (the connection task in [`super`] serves the
//! next stream whatever this one did), so [`Session::next`] always says `Close`; an
//! unread request body is reset by h2 when the stream is dropped, leaving the
//! connection in step. A client that sends `expect: 100-continue` gets `100 Continue`
//! on the first read of its body, as over HTTP/1.1 (most h2 clients send at once); no
//! upgrade (weir's WebSocket tunnel is HTTP/1.1 only).

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Kind};
use crate::http::body::CopyError;
use crate::http::conn::Conn;
use crate::http::decode::Source;
use crate::http::framing::{self, Body};
use crate::http::hop::ConnectionOptions;
use crate::http::{RequestHead, ResponseHead};
use crate::listener_id::ListenerId;
use crate::stream::Stream;

use super::body::{self, Detached, Reader, RequestBody, Whole};
use super::head;
use super::reset::Answer;
use crate::downstream::session::{Next, Reply, Session};

/// The client side of one h2 stream.
pub(super) struct H2Stream {
    pub peer: SocketAddr,
    pub listener: ListenerId,
    pub tls: bool,
    /// `None` while detached for a full-duplex exchange ([`Session::detach_body`]).
    pub body: Option<RequestBody>,
    pub respond: Answer,
    /// The client waits for `100 Continue` before its body, not yet sent.
    pub continue_100: bool,
}

impl H2Stream {
    /// Sends `res` with the whole of `body` (`length` long; empty for HEAD).
    async fn send_whole(
        &mut self,
        res: &ResponseHead,
        length: usize,
        body: &[u8],
        t: Duration,
    ) -> bool {
        let out = head::response(res, Some(length as u64));
        let end = body.is_empty();
        let Ok(mut stream) = self.respond.send_response(out, end) else {
            return false;
        };
        end || body::send(&mut stream, &mut Whole(body), Some(length as u64), t)
            .await
            .is_ok()
    }
}

impl Session for H2Stream {
    type Body<'a> = Reader<'a>;

    fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn listener(&self) -> Option<ListenerId> {
        Some(self.listener)
    }

    fn is_tls(&self) -> bool {
        self.tls
    }

    fn received(&self) -> &[u8] {
        &[]
    }

    /// A declared length is checked against `limit` at once; a body without one is
    /// read until the end of the stream and sent upstream chunked; HEADERS that end
    /// the stream mean no body at all.
    fn open_body(&mut self, req: &RequestHead, limit: u64, expect: bool) -> Result<Body, Error> {
        let Some(body_now) = self.body.as_mut() else {
            return Err(Error::new(Kind::Internal, "request body detached"));
        };
        let body = match framing::request(req)? {
            Body::Empty if !body_now.ended_with_headers() => Body::Chunked,
            Body::Length(n) if limit != 0 && n > limit => {
                return Err(Error::new(Kind::BodyTooLarge, "request body too large"))
            }
            body => body,
        };
        body_now.limit(limit);
        self.continue_100 = expect && !body.is_empty();
        Ok(body)
    }

    fn client_said(&mut self, _said: ConnectionOptions) {}

    fn body(&mut self, timeout: Duration) -> Reader<'_> {
        let go_ahead = std::mem::take(&mut self.continue_100).then_some(&self.respond);
        Reader::new(self.body.as_mut(), timeout, go_ahead)
    }

    /// Only once the client was told to go ahead (or never waited): a `100 Continue`
    /// is the session's to send, on the first read.
    fn detach_body(&mut self, timeout: Duration) -> Option<Detached> {
        if self.continue_100 {
            return None;
        }
        self.body.take().map(|b| Detached::new(b, timeout))
    }

    fn reattach_body(&mut self, body: Detached) {
        self.body = Some(body.into_body());
    }

    fn request_sent(&mut self) {}

    async fn interim(&mut self, head: &ResponseHead, _timeout: Duration) -> bool {
        self.respond
            .send_informational(head::response(head, None))
            .is_ok()
    }

    async fn reply_error(&mut self, status: u16, reply: Reply<'_>) -> u64 {
        let mut res = ResponseHead {
            status,
            ..Default::default()
        };
        let _ = res.headers.add("Content-Type", "text/plain; charset=utf-8");
        if let Some(id) = reply.request_id {
            let _ = res.headers.add(crate::request_id::HEADER, id);
        }
        let text = format!("{status} {}\n", crate::http::head::reason(status));
        let body = if reply.head {
            &b""[..]
        } else {
            text.as_bytes()
        };
        match self.send_whole(&res, text.len(), body, reply.timeout).await {
            true => body.len() as u64,
            false => 0,
        }
    }

    async fn reply_local(&mut self, head: &ResponseHead, length: usize, body: &[u8], t: Duration) {
        self.send_whole(head, length, body, t).await;
    }

    async fn respond<B: Source>(
        &mut self,
        head: &ResponseHead,
        framing: Body,
        body: &mut B,
        write_timeout: Duration,
    ) -> Result<u64, CopyError> {
        let length = match framing {
            Body::Length(n) => Some(n),
            _ => None,
        };
        let end = framing.is_empty();
        let mut out = self
            .respond
            .send_response(head::response(head, length), end)
            .map_err(|e| CopyError::Write(body::io_error(e)))?;
        match end {
            true => Ok(0),
            false => body::send(&mut out, body, length, write_timeout).await,
        }
    }

    async fn upgrade(
        &mut self,
        _head: &ResponseHead,
        _tunnel: &mut Conn<Stream>,
        _write_timeout: Duration,
        _idle: Duration,
    ) -> Option<u64> {
        None // never asked: a WebSocket upgrade needs HTTP/1.1 (`request::wants_websocket`)
    }

    fn next(&self) -> Next {
        Next::Close
    }
}
