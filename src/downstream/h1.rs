//! HTTP/1.x to the client over one TCP stream.

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::Duration;

use crate::http::body;
use crate::http::conn::Conn;
use crate::http::decode::Decoder;
use crate::http::parse::{self, HeadLimits, ReadHead};
use crate::http::write::{self, Framing};
use crate::http::{Protocol, RequestHead, ResponseHead};
use crate::listener_id::ListenerId;
use crate::rt;
use crate::shutdown::Signal;
use crate::stream::Stream;

use super::Next;

/// Initial client read buffer: enough for most heads; grows on demand.
const CLIENT_BUFFER: usize = 4096;
/// After an error reply, how long and how much we keep reading before the close.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// One client connection's HTTP/1.x session: its read buffer and the state of the
/// request being answered.
pub(crate) struct Downstream {
    pub(super) conn: Conn<Stream>,
    /// The current request's state, in its own box that idles with the connection's
    /// scratch (see [`PerRequest`]); made on first use when none was handed in.
    pub(super) request: Option<Box<PerRequest>>,
    pub peer: SocketAddr,
    /// The proxy listener it came in on (`None` on the admin listener): what routes'
    /// `listeners` conditions read.
    pub listener: Option<ListenerId>,
    /// Fires when weir shuts down: no response then offers keep-alive.
    pub(super) stop: Option<Signal>,
}

/// What a session needs only while it answers a request: the buffer replies are
/// serialised into, the request's HTTP version and where its body's decoding stands. Boxed and handed to
/// the thread's kept scratch while the connection idles ([`Downstream::park`]), so an
/// idle connection's task holds 8 bytes for it, not 80: inline, it put every idle
/// task in mimalloc's 768-byte class (bench/profiling.md, "Idle connections, round
/// seven"). Its box is kept with the scratch, so a warm request allocates none.
pub(crate) struct PerRequest {
    pub(super) out: Vec<u8>,
    /// The HTTP version of the current request: it picks the `Connection` header and
    /// how a body of unknown length is framed.
    pub(super) protocol: Protocol,
    /// The current request's body: where its decoding stands.
    pub(super) body: Decoder,
    /// The client waits for `100 Continue` before its body, not yet sent.
    pub(super) continue_100: bool,
    /// The client wants the connection kept after this request.
    pub(super) wants_keep: bool,
    /// What follows the current exchange, once it has answered.
    pub(super) next: Next,
}

impl Default for PerRequest {
    /// Nothing known of a request yet: should its head fail, the reply closes.
    fn default() -> Self {
        PerRequest {
            out: Vec::new(),
            protocol: Protocol::Http11,
            body: Decoder::default(),
            continue_100: false,
            wants_keep: false,
            next: Next::Close,
        }
    }
}

impl PerRequest {
    /// Bytes of memory its reply buffer holds.
    pub fn capacity(&self) -> usize {
        self.out.capacity()
    }
}

/// The request state in `slot`, made if the session has none (a connection not parked
/// by the request loop: the admin listener's, a refused plain-HTTP-to-TLS one). A free
/// function over the one field, so that callers keep borrowing the session's others.
pub(super) fn current(slot: &mut Option<Box<PerRequest>>) -> &mut PerRequest {
    slot.get_or_insert_with(Box::default)
}

/// How one of weir's own text replies goes out.
#[derive(Clone, Copy)]
pub(crate) struct TextReply<'a> {
    /// The request was `HEAD`: the head alone.
    pub head: bool,
    /// The connection stays open after it.
    pub keep: bool,
    /// The request's `X-Request-Id`, returned to the client.
    pub request_id: Option<&'a [u8]>,
    /// For the write.
    pub timeout: Duration,
}

impl TextReply<'_> {
    /// A reply after which the connection closes, with no request to echo.
    pub fn closing(timeout: Duration) -> Self {
        TextReply {
            head: false,
            keep: false,
            request_id: None,
            timeout,
        }
    }
}

impl Downstream {
    /// A session over an accepted stream whose head buffer may grow to `max_head`.
    pub fn new(stream: Stream, peer: SocketAddr, max_head: usize) -> Self {
        Downstream {
            conn: Conn::new(stream, CLIENT_BUFFER, max_head),
            request: None,
            peer,
            listener: None,
            stop: None,
        }
    }

    /// The session stops offering keep-alive once `stop` fires (weir shutting down).
    pub fn stopping(mut self, stop: Signal) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The session as accepted by proxy listener `id`.
    pub fn on(mut self, id: ListenerId) -> Self {
        self.listener = Some(id);
        self
    }

    /// The TCP socket under a plain session, for what comes before HTTP on it (a
    /// PROXY protocol header).
    pub fn tcp_mut(&mut self) -> &mut rt::TcpStream {
        self.conn.io.tcp_mut()
    }

    /// Whether the client speaks to us over TLS.
    pub fn is_tls(&self) -> bool {
        self.conn.io.is_tls()
    }

    // ---- The read side ----

    /// Bytes read but not yet consumed (a head, a body, a pipelined request).
    pub fn buffered(&self) -> &[u8] {
        self.conn.buffered()
    }

    /// Lets the read buffer grow to `max` (a reload may raise the head limit).
    pub fn allow(&mut self, max: usize) {
        self.conn.allow(max);
    }

    /// Waits until the client sends something (or closes) and reads it; `Ok(0)` at EOF.
    /// While it waits the connection holds no read buffer at all (nginx does the same).
    /// Not an `async fn`, which would hold `self` twice: every idle task holds this.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps a second copy of `self` (bench/profiling.md, round six)"
    )]
    pub fn wait_for_request(&mut self) -> impl Future<Output = std::io::Result<usize>> + '_ {
        async move {
            self.conn.release();
            self.conn.io.readable().await;
            self.conn.fill_idle().await
        }
    }

    /// The stream with the bytes read from it but not consumed: for a connection that
    /// turned out to speak HTTP/2 with prior knowledge (`h2c`).
    pub fn into_conn(self) -> Conn<Stream> {
        self.conn
    }

    /// True while the client has sent nothing unread (nor closed): really idle.
    pub fn is_quiet(&self) -> bool {
        rt::is_quiet(self.conn.io.tcp())
    }

    /// Reads one request head into `req`, and consumes it from the buffer.
    pub async fn read_request(
        &mut self,
        limits: HeadLimits,
        req: &mut RequestHead,
    ) -> Result<(), ReadHead> {
        self.forget_request();
        let n = parse::read_request(&mut self.conn, limits, req).await?;
        self.took_request(n, req);
        Ok(())
    }

    /// Takes one request head into `req` from the bytes already read, if they hold all
    /// of it; `None` when more must be read (with [`read_request`](Self::read_request)).
    pub fn buffered_request(
        &mut self,
        limits: HeadLimits,
        req: &mut RequestHead,
    ) -> Option<Result<(), ReadHead>> {
        self.forget_request();
        match parse::buffered_request(&self.conn, limits, req) {
            Ok(Some(n)) => {
                self.took_request(n, req);
                Some(Ok(()))
            }
            Ok(None) => None,
            Err(err) => Some(Err(ReadHead::Failed(err))),
        }
    }

    /// Nothing is known of the new request yet: should its head fail, the reply closes
    /// the connection.
    fn forget_request(&mut self) {
        let r = current(&mut self.request);
        let out = std::mem::take(&mut r.out);
        *r = PerRequest {
            out,
            protocol: r.protocol,
            ..PerRequest::default()
        };
    }

    /// The head of `n` bytes at the front of the buffer was parsed into `req`.
    /// The head of `n` bytes is parsed into `req`: consumed, and the read buffer given
    /// back if nothing follows it (a body yet to come, or a request without one). Until
    /// the exchange reads again the buffer is not needed, and it used to be held until
    /// the request had gone upstream, which waits for the end of the batch of ready tasks
    /// (`rt::end_of_batch`): under load a batch of new connections held a buffer each,
    /// more than the thread's list keeps, and one connection in five zeroed a fresh one
    /// (bench/profiling.md, "New connections, round two").
    fn took_request(&mut self, n: usize, req: &RequestHead) {
        self.conn.consume(n);
        self.conn.release();
        current(&mut self.request).protocol = req.protocol;
    }

    // ---- The write side ----

    /// The request state, handed over while the connection idles (see `exchange::kept`).
    pub fn park(&mut self) -> Option<Box<PerRequest>> {
        self.request.take()
    }

    /// The request state for the next request, as parked by some connection (every
    /// request resets it; every writer clears its reply buffer).
    pub fn resume(&mut self, request: Option<Box<PerRequest>>) {
        if request.is_some() {
            self.request = request;
        }
    }

    /// Writes the reply buffer plus `body` within `timeout`; false if the client did
    /// not take it.
    pub(super) async fn send(&mut self, body: &[u8], timeout: Duration) -> bool {
        let out = &current(&mut self.request).out;
        let mut bufs = [IoSlice::new(out), IoSlice::new(body)];
        let bufs = if body.is_empty() {
            &mut bufs[..1]
        } else {
            &mut bufs[..]
        };
        let write = body::write_all_vectored(&mut self.conn.io, bufs);
        matches!(rt::timeout(timeout, write).await, Some(Ok(())))
    }

    /// The HTTP version of the current request (1.1 before any).
    pub(super) fn protocol(&self) -> Protocol {
        self.request
            .as_ref()
            .map_or(Protocol::Http11, |r| r.protocol)
    }

    /// `Connection` value for a response: `close` when the connection ends,
    /// `keep-alive` for an HTTP/1.0 client that asked for it.
    pub(super) fn connection_value(&self, keep: bool) -> Option<&'static str> {
        match (keep, self.protocol()) {
            (false, _) => Some("close"),
            (true, Protocol::Http10) => Some("keep-alive"),
            (true, _) => None,
        }
    }

    /// Writes weir's own small `text/plain` error reply; to a `HEAD` request (`head`) the
    /// head alone, with the length the body would have (RFC 9110 §9.3.2), so the next
    /// response on the connection stays in step. The connection stays open only if
    /// `keep` says so. Returns whether it was sent, and the body bytes written.
    pub async fn write_error(&mut self, status: u16, reply: TextReply<'_>) -> (bool, u64) {
        let mut text = Vec::with_capacity(40);
        write::push_u64(&mut text, u64::from(status));
        text.push(b' ');
        text.extend_from_slice(crate::http::head::reason(status).as_bytes());
        text.push(b'\n');
        self.write_text(status, &text, reply).await
    }

    /// Writes a `text/plain` reply with `text` for its body (none to a `HEAD` request).
    pub async fn write_text(
        &mut self,
        status: u16,
        text: &[u8],
        reply: TextReply<'_>,
    ) -> (bool, u64) {
        let TextReply {
            head,
            keep,
            request_id,
            timeout,
        } = reply;
        let mut res = ResponseHead {
            status,
            ..Default::default()
        };
        let _ = res.headers.add("Content-Type", "text/plain; charset=utf-8");
        if let Some(id) = request_id {
            let _ = res.headers.add(crate::request_id::HEADER, id);
        }
        write::local_response_head(
            &mut current(&mut self.request).out,
            &res,
            Framing::Length(text.len() as u64),
            (!keep).then_some("close"),
        );
        let body = if head { &[][..] } else { text };
        let sent = self.send(body, timeout).await;
        (sent, body.len() as u64)
    }

    /// Writes a whole reply a middleware built (`body` is empty for a HEAD request).
    pub async fn write_local(
        &mut self,
        res: &ResponseHead,
        length: usize,
        body: &[u8],
        keep: bool,
        timeout: Duration,
    ) -> bool {
        let connection = self.connection_value(keep);
        let framing = Framing::Length(length as u64);
        let out = &mut current(&mut self.request).out;
        write::local_response_head(out, res, framing, connection);
        self.send(body, timeout).await
    }

    /// Half-closes, then reads and drops what the client still sends for a short while,
    /// so the kernel does not answer unread bytes with a reset that destroys our error
    /// reply.
    pub async fn linger(&mut self) {
        self.conn.io.shutdown_write().await;
        let conn = &mut self.conn;
        let drain = async {
            let mut seen = 0;
            while seen < LINGER_BYTES {
                match conn.fill().await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        seen += n;
                        let len = conn.buffered().len();
                        conn.consume(len);
                    }
                }
            }
        };
        rt::timeout(LINGER_TIME, drain).await;
    }
}
