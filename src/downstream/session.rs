//! [`Session`]: what the exchange asks of the client side, whatever its protocol.
//!
//! A session reads request heads, hands out the request body as a decoded stream,
//! relays interim responses, writes weir's own replies and the relayed response, and
//! decides whether its connection carries another request. The exchange decides *what*
//! to answer; the session decides how that is spelled on the wire. It never sees bytes:
//! no framing, no `Connection` header, no `100 Continue`.
//!
//! **Keep-alive is the session's decision**, from what the client said and one fact:
//! was the request body read to its end (an unread body leaves the connection out of
//! step, so it closes). The exchange never passes a `keep` flag; afterwards the
//! connection loop asks [`Session::next`].
//!
//! **`100 Continue` is sent lazily**, on the first read of the body (as hyper does): a
//! request refused before its body is wanted (no route, a middleware's reply, no server
//! reachable) never tells the client to send it.
//!
//! **A trait, used generically, not `dyn`.** The exchange is `exchange<S: Session>`, so
//! each session type gets its own copy of it with every call static and inlinable, and
//! no box or vtable per request (the hot path takes no allocation per warm keep-alive
//! request). HTTP/2 (Part 2 of the issue) is one more implementation: one session per
//! stream, each exchange on its own task, `&mut` to its stream's session; an enum over
//! h1 and h2 would put a branch in every call and make every h1 connection as large as
//! an h2 stream's state.

use std::net::SocketAddr;
use std::time::Duration;

use crate::downstream::h2::Detached;
use crate::error::Error;
use crate::http::body::CopyError;
use crate::http::conn::Conn;
use crate::http::decode::Source;
use crate::http::framing::Body;
use crate::http::hop::ConnectionOptions;
use crate::http::{RequestHead, ResponseHead};
use crate::listener_id::ListenerId;
use crate::stream::Stream;

/// What follows an exchange on the client connection: the session's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
    /// Close after reading (and dropping) what the client may still be sending, so the
    /// error reply is not destroyed by a TCP reset.
    CloseAfterError,
}

/// How one of weir's own text replies goes out.
#[derive(Clone, Copy)]
pub(crate) struct Reply<'a> {
    /// The request was `HEAD`: the head alone.
    pub head: bool,
    /// The request's `X-Request-Id`, returned to the client.
    pub request_id: Option<&'a [u8]>,
    /// For the write.
    pub timeout: Duration,
}

/// The client side of one request, as the exchange sees it (see the module docs).
#[allow(
    async_fn_in_trait,
    reason = "used generically with concrete types, never as dyn"
)]
pub(crate) trait Session {
    /// The request body, decoded, as the session hands it out.
    type Body<'a>: Source
    where
        Self: 'a;

    /// The client's address.
    fn peer(&self) -> SocketAddr;
    /// The proxy listener the connection came in on.
    fn listener(&self) -> Option<ListenerId>;
    /// Whether the client speaks to us over TLS.
    fn is_tls(&self) -> bool;
    /// What was received but not understood (for the log of a rejected request).
    fn received(&self) -> &[u8];

    /// Decides how the request body of `req` ends (its framing, RFC 9112 §6 for
    /// HTTP/1), refuses one declared larger than `limit` (413; 0 for no limit), and
    /// notes whether the client waits for `100 Continue` (`expect_continue`).
    fn open_body(
        &mut self,
        req: &RequestHead,
        limit: u64,
        expect_continue: bool,
    ) -> Result<Body, Error>;
    /// What the client's `Connection` field said (read before hop-by-hop fields go).
    fn client_said(&mut self, said: ConnectionOptions);
    /// The request body; the first read sends `100 Continue` if the client waits for it.
    fn body(&mut self, timeout: Duration) -> Self::Body<'_>;
    /// The request body as a source of its own, so that it can be sent upstream while
    /// the response comes back through this session (full duplex, for an h2
    /// upstream); `None` where the session cannot read and write at once (HTTP/1.1,
    /// whose body and response share one connection buffer) or must first say `100
    /// Continue`. The exchange then sends the body before it reads the answer.
    fn detach_body(&mut self, _timeout: Duration) -> Option<Detached> {
        None
    }
    /// Gives back a body [`detach_body`](Self::detach_body) took, when the attempt
    /// that used it failed (it may go to another server if none of it was used).
    fn reattach_body(&mut self, _body: Detached) {}
    /// The request is all sent upstream: the session may free what it only needed to
    /// read it while the answer is awaited.
    fn request_sent(&mut self);

    /// Relays an interim (1xx) response; false if the client did not take it.
    async fn interim(&mut self, head: &ResponseHead, timeout: Duration) -> bool;
    /// Writes weir's own `text/plain` reply for `status`; returns the body bytes sent.
    async fn reply_error(&mut self, status: u16, reply: Reply<'_>) -> u64;
    /// Writes a whole reply a middleware built (`body` is empty for a HEAD request,
    /// whose head still says `length`).
    async fn reply_local(
        &mut self,
        head: &ResponseHead,
        length: usize,
        body: &[u8],
        timeout: Duration,
    );
    /// Relays a response: `head`, then `body` (framed as `framing` said) re-framed for
    /// this client, each write within `write_timeout`. Returns the body bytes sent.
    async fn respond<B: Source>(
        &mut self,
        head: &ResponseHead,
        framing: Body,
        body: &mut B,
        write_timeout: Duration,
    ) -> Result<u64, CopyError>;
    /// Completes an upgrade: writes the `101` head, then tunnels bytes both ways with
    /// `tunnel` until one side closes or nothing moves for `idle`. Returns the bytes
    /// sent to the client, or `None` if the head could not be written.
    async fn upgrade(
        &mut self,
        head: &ResponseHead,
        tunnel: &mut Conn<Stream>,
        write_timeout: Duration,
        idle: Duration,
    ) -> Option<u64>;

    /// What follows the exchange just ended on this connection.
    fn next(&self) -> Next;
}
