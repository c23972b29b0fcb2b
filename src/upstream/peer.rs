//! [`Peer`]: one connection to one upstream server, as the exchange uses it.
//!
//! A peer owns the mechanics of the upstream side: connecting (and the TLS handshake
//! for a group with `tls`), the keep-alive pool, serialising the request for its
//! protocol (HTTP/1.1 today), reading response heads, and handing out the response
//! body as a decoded stream. What a failure *means* (its [`Cause`], a retry, passive
//! health) stays with the exchange.
//!
//! [`dial`] is the one connect + TLS path: requests and the active health probe
//! (`health.rs`) both go through it, so a probe checks what a request would meet.
//!
//! An HTTP/2 upstream (Part 2 of the issue) is another peer type behind the same few
//! calls: send a head and a body, read a head, hand out a body.
//!
//! [`Cause`]: crate::exchange

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_rustls::TlsConnector;

use crate::error::{Error, Kind};
use crate::http::body::{self, CopyError, Out};
use crate::http::conn::Conn;
use crate::http::decode::{Decoder, Decoding, Source};
use crate::http::framing::Body;
use crate::http::parse::{self, HeadLimits, ReadHead};
use crate::http::write;
use crate::http::{RequestHead, ResponseHead};
use crate::rt;
use crate::stream::Stream;
use crate::tls;

use super::group::Group;
use super::pool::{UpstreamConn, BUFFER, FIRST_READ};

/// Why [`dial`] failed.
#[derive(Debug)]
pub(crate) enum Dial {
    /// No connection within the timeout.
    ConnectTimeout,
    /// The connection could not be made (refused, unreachable, no descriptor).
    Connect(io::Error),
    /// Connected, but the TLS handshake did not finish within the timeout.
    HandshakeTimeout,
    /// Connected, but the TLS handshake failed (a certificate that does not verify).
    Handshake(io::Error),
}

impl Dial {
    /// The TCP connection was made (the handshake is what failed).
    pub fn connected(&self) -> bool {
        matches!(self, Dial::HandshakeTimeout | Dial::Handshake(_))
    }
}

/// Connects to server `addr` of `group` and, when the group speaks TLS, completes the
/// handshake: each step within `timeout`. A certificate that fails verification is an
/// error, never a plaintext fallback.
pub(crate) async fn dial(
    group: &Group,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Stream, Dial> {
    let tcp = match rt::timeout(timeout, rt::connect(addr)).await {
        None => return Err(Dial::ConnectTimeout),
        Some(Err(err)) => return Err(Dial::Connect(err)),
        Some(Ok(tcp)) => tcp,
    };
    let (Some(config), Some(t)) = (group.tls(), &group.config.tls) else {
        return Ok(tcp.into());
    };
    let name = tls::server_name(t, addr);
    let connect = TlsConnector::from(config).connect(name, tcp);
    match rt::timeout(timeout, connect).await {
        None => Err(Dial::HandshakeTimeout),
        Some(Err(err)) => Err(Dial::Handshake(err)),
        Some(Ok(s)) => Ok(Stream::Client(Box::new(s))),
    }
}

/// One connection to one upstream server, speaking HTTP/1.1.
pub(crate) struct Peer {
    conn: UpstreamConn,
    /// Taken from the pool (it may have been closed by the origin as we picked it).
    reused: bool,
    /// The response body's decoding: whether it was read to its end.
    body: Decoder,
    /// A request was just sent and no byte of the answer has been looked for yet.
    awaiting: bool,
}

impl Peer {
    /// A new connection over `stream` (from [`dial`]).
    pub fn new(stream: Stream) -> Self {
        Peer::over(Conn::new(stream, FIRST_READ, BUFFER), false)
    }

    fn over(conn: UpstreamConn, reused: bool) -> Self {
        Peer {
            conn,
            reused,
            body: Decoder::default(),
            awaiting: false,
        }
    }

    /// A kept connection to server `idx` of `group`, if the pool holds a usable one
    /// (see [`super::pool::Pool::checkout`] for `resendable`).
    pub fn checkout(group: &Group, idx: usize, resendable: bool) -> Option<Self> {
        let conn = group.pool.checkout(idx, resendable)?;
        Some(Peer::over(conn, true))
    }

    /// The connection came from the pool.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Serialises `req` (HTTP/1.1, its body framed as `framing`) into `scratch` and
    /// sends it with `body`, each write within `write_timeout`. Returns the body bytes
    /// sent. `batch` groups the write with others for the same server this turn (see
    /// `rt::end_of_batch`).
    pub async fn send<B: Source>(
        &mut self,
        req: &RequestHead,
        framing: Body,
        body: &mut B,
        scratch: &mut Vec<u8>,
        write_timeout: Duration,
        batch: rt::Batch,
    ) -> Result<u64, CopyError> {
        write::request_head(scratch, req, framing.into());
        let out = match framing {
            Body::Chunked => Out::Chunked,
            _ => Out::Raw,
        };
        rt::end_of_batch(batch).await;
        self.awaiting = true;
        body::pipe(body, &mut self.conn.io, out, scratch, write_timeout).await
    }

    /// Reads one response head into `res` within `timeout`.
    pub async fn read_head(
        &mut self,
        res: &mut ResponseHead,
        limits: HeadLimits,
        timeout: Duration,
    ) -> Result<(), ReadHead> {
        let first = std::mem::take(&mut self.awaiting);
        let conn = &mut self.conn;
        let head = async {
            if first && conn.buffered().is_empty() {
                conn.io.readable().await; // the answer cannot be there yet
            }
            parse::read_response(conn, limits, res).await
        };
        match rt::timeout(timeout, head).await {
            None => Err(ReadHead::Failed(Error::new(
                Kind::GatewayTimeout,
                "upstream response timed out",
            ))),
            Some(Err(err)) => Err(err),
            Some(Ok(n)) => {
                self.conn.consume(n);
                Ok(())
            }
        }
    }

    /// The response body, framed as `framing`, each read within `timeout`.
    pub fn body(&mut self, framing: Body, timeout: Duration) -> Decoding<'_, Stream> {
        self.body = Decoder::new(framing, 0);
        self.body.over(&mut self.conn, timeout)
    }

    /// Gives the connection back to `group`'s pool for server `idx`: only call it after
    /// a clean exchange (the whole response read by its own framing, no side asked to
    /// close).
    pub fn give_back(self, group: &Group, idx: usize) {
        debug_assert!(self.body.is_done());
        group.pool.checkin(idx, self.conn);
    }

    /// The connection as a byte stream, after a `101 Switching Protocols`.
    pub fn tunnel(&mut self) -> &mut UpstreamConn {
        &mut self.conn
    }
}
