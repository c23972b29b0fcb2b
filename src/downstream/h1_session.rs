//! [`Session`] for HTTP/1.x: the request body decoded from the client's buffer (with a
//! lazy `100 Continue`), the keep-alive decision, and responses re-framed for the
//! client's version (chunked for HTTP/1.1 when the length is unknown; for HTTP/1.0 the
//! end is our close).

use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Kind};
use crate::http::body::{self, CopyError, Out, ReadError};
use crate::http::conn::Conn;
use crate::http::decode::{Decoder, Decoding, Source, Unread};
use crate::http::framing::{self, Body};
use crate::http::hop::ConnectionOptions;
use crate::http::splice;
use crate::http::write::{self, Framing};
use crate::http::{Protocol, RequestHead, ResponseHead};
use crate::listener_id::ListenerId;
use crate::rt;
use crate::stream::Stream;
use crate::tunnel;

use super::h1::{current, Downstream, TextReply};
use super::session::{Reply, Session};
use super::Next;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An HTTP/1.x request body: decoded from the client's read buffer; its first read
/// says `100 Continue` when the client waits for it.
pub(crate) struct RequestBody<'a> {
    body: Decoding<'a, Stream>,
    continue_100: &'a mut bool,
    timeout: Duration,
}

impl Source for RequestBody<'_> {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        if std::mem::take(self.continue_100) {
            let io = &mut self.body.conn().io;
            let mut go_ahead = [IoSlice::new(CONTINUE)];
            let write = body::write_all_vectored(io, &mut go_ahead);
            if !matches!(rt::timeout(self.timeout, write).await, Some(Ok(()))) {
                return Err(CopyError::Read(ReadError::ContinueFailed));
            }
        }
        self.body.piece().await
    }

    fn consume(&mut self, n: usize) {
        self.body.consume(n);
    }

    /// Not while `100 Continue` is still owed: the first piece says it.
    fn unread(&mut self, min: u64) -> Option<Unread<'_>> {
        match *self.continue_100 {
            true => None,
            false => self.body.unread_plain(min),
        }
    }

    fn spliced(&mut self, n: u64) {
        self.body.spliced_plain(n);
    }
}

impl Downstream {
    /// Whether the connection may carry another request after this one: the client
    /// wants it, its body was read to the end, and weir is not shutting down.
    fn may_keep(&self) -> bool {
        let r = self.request.as_deref();
        let keep = r.is_some_and(|r| r.wants_keep && r.body.is_done());
        keep && !self.stop.as_ref().is_some_and(|s| s.is_fired())
    }

    /// Records what follows a reply weir wrote itself.
    fn after_reply(&mut self, sent: bool, keep: bool) {
        current(&mut self.request).next = after_reply(sent, keep);
    }
}

/// What follows a reply weir wrote itself: keep-alive, or a close that first drains
/// what the client still sends (so the reply is not lost to a reset), or a plain close
/// when the reply could not be written.
pub(crate) fn after_reply(sent: bool, keep: bool) -> Next {
    match (sent, keep) {
        (true, true) => Next::KeepAlive,
        (true, false) => Next::CloseAfterError,
        (false, _) => Next::Close,
    }
}

/// How a response body of framing `body` goes to a client speaking `protocol`, and
/// whether the connection can stay open after it (`keep`).
pub(crate) fn reframe(body: Body, protocol: Protocol, keep: bool) -> (Framing, Out, bool) {
    match body {
        Body::Empty => (Framing::None, Out::Raw, keep),
        Body::Length(n) => (Framing::Length(n), Out::Raw, keep),
        _ if protocol.is_http11() => (Framing::Chunked, Out::Chunked, keep),
        _ => (Framing::None, Out::Raw, false),
    }
}

impl Session for Downstream {
    type Body<'a> = RequestBody<'a>;

    fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn listener(&self) -> Option<ListenerId> {
        self.listener
    }

    fn is_tls(&self) -> bool {
        Downstream::is_tls(self)
    }

    fn received(&self) -> &[u8] {
        self.buffered()
    }

    fn open_body(
        &mut self,
        req: &RequestHead,
        limit: u64,
        expect_continue: bool,
    ) -> Result<Body, Error> {
        let body = framing::request(req)?;
        if matches!(body, Body::Length(n) if limit != 0 && n > limit) {
            return Err(Error::new(Kind::BodyTooLarge, "request body too large"));
        }
        let continue_100 = expect_continue && !body.is_empty() && self.protocol().is_http11();
        let r = current(&mut self.request);
        r.body = Decoder::new(body, limit);
        r.continue_100 = continue_100;
        Ok(body)
    }

    fn client_said(&mut self, said: ConnectionOptions) {
        current(&mut self.request).wants_keep = if self.protocol().is_http10() {
            said.keep_alive
        } else {
            !said.close
        };
    }

    fn body(&mut self, timeout: Duration) -> RequestBody<'_> {
        let r = current(&mut self.request);
        RequestBody {
            body: r.body.over(&mut self.conn, timeout),
            continue_100: &mut r.continue_100,
            timeout,
        }
    }

    fn request_sent(&mut self) {
        // While the answer is awaited (most of an exchange's life in a burst), the
        // client's read buffer is not needed.
        self.conn.release();
    }

    async fn interim(&mut self, head: &ResponseHead, timeout: Duration) -> bool {
        if self.protocol().is_http10() {
            return true; // HTTP/1.0 clients do not get them
        }
        let out = &mut current(&mut self.request).out;
        write::response_head(out, head, Framing::None, None);
        self.send(b"", timeout).await
    }

    async fn reply_error(&mut self, status: u16, reply: Reply<'_>) -> u64 {
        let keep = self.may_keep();
        let text = TextReply {
            head: reply.head,
            keep,
            request_id: reply.request_id,
            timeout: reply.timeout,
        };
        let (sent, bytes) = self.write_error(status, text).await;
        self.after_reply(sent, keep);
        bytes
    }

    async fn reply_local(&mut self, head: &ResponseHead, length: usize, body: &[u8], t: Duration) {
        let keep = self.may_keep();
        let sent = self.write_local(head, length, body, keep, t).await;
        self.after_reply(sent, keep);
    }

    async fn respond<B: Source>(
        &mut self,
        head: &ResponseHead,
        framing: Body,
        body: &mut B,
        write_timeout: Duration,
    ) -> Result<u64, CopyError> {
        let spliceable = splice::worth(framing);
        let (framing, out, keep) = reframe(framing, self.protocol(), self.may_keep());
        let connection = self.connection_value(keep);
        let buf = &mut current(&mut self.request).out;
        write::response_head(buf, head, framing, connection);
        // Sent with the rest of this turn's writes, after the requests going upstream
        // (see `rt::end_of_batch`).
        rt::end_of_batch(rt::Batch::clients()).await;
        let dst = &mut self.conn.io;
        let head_bytes = &current(&mut self.request).out;
        let bytes = match spliceable {
            true => splice::pipe(body, dst, out, head_bytes, write_timeout).await?,
            false => body::pipe(body, dst, out, head_bytes, write_timeout).await?,
        };
        current(&mut self.request).next = if keep { Next::KeepAlive } else { Next::Close };
        Ok(bytes)
    }

    async fn upgrade(
        &mut self,
        head: &ResponseHead,
        tunnel: &mut Conn<Stream>,
        write_timeout: Duration,
        idle: Duration,
    ) -> Option<u64> {
        let r = current(&mut self.request);
        r.next = Next::Close;
        write::response_head(&mut r.out, head, Framing::None, None);
        if !self.send(b"", write_timeout).await {
            return None;
        }
        Some(tunnel::run(&mut self.conn, tunnel, idle).await)
    }

    fn next(&self) -> Next {
        self.request.as_ref().map_or(Next::Close, |r| r.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_reply_weir_wrote() {
        assert_eq!(after_reply(true, true), Next::KeepAlive);
        assert_eq!(after_reply(true, false), Next::CloseAfterError);
        assert_eq!(after_reply(false, true), Next::Close);
        assert_eq!(after_reply(false, false), Next::Close);
    }

    #[test]
    fn unknown_lengths_are_chunked_for_1_1_and_closed_for_1_0() {
        assert_eq!(
            reframe(Body::Empty, Protocol::Http10, true),
            (Framing::None, Out::Raw, true)
        );
        assert_eq!(
            reframe(Body::Length(5), Protocol::Http10, true),
            (Framing::Length(5), Out::Raw, true)
        );
        assert_eq!(
            reframe(Body::Chunked, Protocol::Http11, true),
            (Framing::Chunked, Out::Chunked, true)
        );
        assert_eq!(
            reframe(Body::UntilClose, Protocol::Http11, false),
            (Framing::Chunked, Out::Chunked, false)
        );
        assert_eq!(
            reframe(Body::UntilClose, Protocol::Http10, true),
            (Framing::None, Out::Raw, false)
        );
        assert_eq!(
            reframe(Body::Chunked, Protocol::Http10, true),
            (Framing::None, Out::Raw, false)
        );
    }
}
