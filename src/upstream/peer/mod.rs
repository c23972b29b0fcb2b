//! [`Peer`]: one upstream request's way to one server, as the exchange uses it.
//!
//! A peer owns the mechanics of the upstream side: connecting (and the TLS handshake
//! for a group with `tls`), the pools, putting the request on the wire in the group's
//! protocol, reading response heads, and handing out the response body as a decoded
//! stream. What a failure *means* (its [`Cause`], a retry, passive health) stays with
//! the exchange.
//!
//! Two kinds sit behind the same few calls (send a head and a body, read a head, hand
//! out a body): [`h1::H1`], a keep-alive HTTP/1.1 connection of its own, and
//! [`h2stream::H2`], one stream on a connection shared through the multiplexed pool
//! ([`super::h2pool`]).
//!
//! [`dial`] is the one connect + TLS path: requests (both kinds) and the active health
//! probe (`health.rs`) go through it, so a probe checks what a request would meet.
//!
//! [`Cause`]: crate::exchange

mod duplex;
pub(crate) mod h1;
mod h2head;
pub(crate) mod h2stream;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_rustls::TlsConnector;

use crate::config::UpstreamProtocol;
use crate::either::Either;
use crate::http::body::CopyError;
use crate::http::decode::{Decoding, Source, Unread};
use crate::http::framing::Body;
use crate::http::parse::{HeadLimits, ReadHead};
use crate::http::replay::Replay;
use crate::http::{RequestHead, ResponseHead};
use crate::rt;
use crate::stream::Stream;
use crate::tls;

use super::group::Group;
use super::pool::UpstreamConn;

/// Why [`dial`] failed.
#[derive(Debug)]
pub(crate) enum Dial {
    /// No connection within the timeout.
    ConnectTimeout,
    /// The connection could not be made (refused, unreachable, no descriptor).
    Connect(io::Error),
    /// Connected, but the TLS handshake did not finish within the timeout.
    HandshakeTimeout,
    /// Connected, but the TLS handshake failed (a certificate that does not verify,
    /// or, for `protocol = "h2"`, a server that did not agree to `h2` by ALPN).
    Handshake(io::Error),
}

impl Dial {
    /// The TCP connection was made (the handshake is what failed).
    pub fn connected(&self) -> bool {
        matches!(self, Dial::HandshakeTimeout | Dial::Handshake(_))
    }
}

/// Connects to server `addr` of `group`, writes the group's PROXY header for `client`
/// (`None` for weir's own health checks) and, when the group speaks TLS, completes the
/// handshake: each step within `timeout`. A certificate that fails verification is an
/// error, never a plaintext fallback.
pub(crate) async fn dial(
    group: &Group,
    addr: SocketAddr,
    timeout: Duration,
    client: Option<SocketAddr>,
) -> Result<Stream, Dial> {
    let mut tcp = match rt::timeout(timeout, rt::connect(addr)).await {
        None => return Err(Dial::ConnectTimeout),
        Some(Err(err)) => return Err(Dial::Connect(err)),
        Some(Ok(tcp)) => tcp,
    };
    super::proxy_header::send(group, &mut tcp, client, addr, timeout).await?;
    let (Some(config), Some(t)) = (group.tls(), &group.config.tls) else {
        return Ok(tcp.into());
    };
    let name = tls::server_name(t, addr);
    let connect = TlsConnector::from(config).connect(name, tcp);
    let stream = match rt::timeout(timeout, connect).await {
        None => return Err(Dial::HandshakeTimeout),
        Some(Err(err)) => return Err(Dial::Handshake(err)),
        Some(Ok(s)) => Stream::Client(Box::new(s)),
    };
    if group.config.protocol == UpstreamProtocol::H2 && stream.alpn() != Some(b"h2") {
        let why = "the server did not agree to h2 by ALPN (protocol = \"h2\")";
        return Err(Dial::Handshake(io::Error::other(why)));
    }
    Ok(stream)
}

/// One request's way to one upstream server: an HTTP/1.1 connection, or an h2 stream.
pub(crate) enum Peer {
    H1(h1::H1),
    H2(h2stream::H2),
}

impl Peer {
    /// The connection came from a pool (it may have been closed as we picked it).
    pub fn reused(&self) -> bool {
        match self {
            Peer::H1(p) => p.reused,
            Peer::H2(p) => p.reused,
        }
    }

    /// Sends `req`, its body framed as `framing`, with `body`, each write within
    /// `write_timeout`. Returns the body bytes sent. `scratch` and `batch` are for
    /// HTTP/1.1's serialiser (see [`h1::H1::send`]).
    pub async fn send<B: Source>(
        &mut self,
        req: &RequestHead,
        framing: Body,
        body: &mut B,
        scratch: &mut Vec<u8>,
        write_timeout: Duration,
        batch: rt::Batch,
    ) -> Result<u64, CopyError> {
        match self {
            Peer::H1(p) => {
                p.send(req, framing, body, scratch, write_timeout, batch)
                    .await
            }
            Peer::H2(p) => p.send(req, framing, body, write_timeout).await,
        }
    }

    /// Reads one response head into `res` within `timeout`.
    pub async fn read_head(
        &mut self,
        res: &mut ResponseHead,
        limits: HeadLimits,
        timeout: Duration,
    ) -> Result<(), ReadHead> {
        match self {
            Peer::H1(p) => p.read_head(res, limits, timeout).await,
            Peer::H2(p) => p.read_head(res, timeout).await,
        }
    }

    /// For h2: the server did not process the request (`REFUSED_STREAM`, or a stream
    /// above a GOAWAY's last-stream-id, RFC 9113 §8.7), so it may go again even when
    /// not idempotent, if its body can be sent again (see `http::replay`).
    pub fn unsent(&self) -> Option<h2stream::Unsent> {
        match self {
            Peer::H1(_) => None,
            Peer::H2(p) => p.unsent,
        }
    }

    /// The client's body, if this peer took it for full duplex (h2 only).
    pub fn reclaim(&mut self) -> Option<Replay<crate::downstream::h2::Detached>> {
        match self {
            Peer::H1(_) => None,
            Peer::H2(p) => p.reclaim(),
        }
    }

    /// How the client's body failed while it went up alongside the answer (full
    /// duplex only).
    pub fn upload_failed(&mut self) -> Option<CopyError> {
        match self {
            Peer::H1(_) => None,
            Peer::H2(p) => p.upload_failed(),
        }
    }

    /// Request body bytes sent, when the body went up alongside the answer (the count
    /// grows until the response ends).
    pub fn streamed(&self) -> Option<u64> {
        match self {
            Peer::H1(_) => None,
            Peer::H2(p) => Some(p.sent()),
        }
    }

    /// The response body, framed as `framing`, each read within `timeout`.
    pub fn body(&mut self, framing: Body, timeout: Duration) -> PeerBody<'_> {
        match self {
            Peer::H1(p) => PeerBody::H1(p.body(framing, timeout)),
            Peer::H2(p) => PeerBody::H2(p.body(timeout)),
        }
    }

    /// Gives the connection back to `group`'s pool for server `idx`: only call it after
    /// a clean exchange (the whole response read by its own framing, no side asked to
    /// close). An h2 stream frees its slot on the shared connection when dropped.
    pub fn give_back(self, group: &Group, idx: usize) {
        if let Peer::H1(p) = self {
            p.give_back(group, idx);
        }
    }

    /// The connection as a byte stream, after a `101 Switching Protocols` (HTTP/1.1
    /// only: an h2 upstream never switches protocols).
    pub fn tunnel(&mut self) -> Option<&mut UpstreamConn> {
        match self {
            Peer::H1(p) => Some(p.tunnel()),
            Peer::H2(_) => None,
        }
    }
}

/// A response body from either kind of peer.
pub(crate) enum PeerBody<'a> {
    H1(Decoding<'a, Stream>),
    H2(h2stream::Reading<'a>),
}

impl Source for PeerBody<'_> {
    /// The kind's own future, not one that awaits it (see [`Either`]).
    fn piece(&mut self) -> impl Future<Output = Result<&[u8], CopyError>> {
        match self {
            PeerBody::H1(b) => Either::Left { f: b.piece() },
            PeerBody::H2(b) => Either::Right { f: b.piece() },
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            PeerBody::H1(b) => b.consume(n),
            PeerBody::H2(b) => b.consume(n),
        }
    }

    fn lend(&mut self, n: usize) -> Option<bytes::Bytes> {
        match self {
            PeerBody::H1(b) => b.lend(n),
            PeerBody::H2(b) => b.lend(n),
        }
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        match self {
            PeerBody::H1(_) => None,
            PeerBody::H2(b) => b.trailers(),
        }
    }

    fn unread(&mut self, min: u64) -> Option<Unread<'_>> {
        match self {
            PeerBody::H1(b) => b.unread_plain(min),
            PeerBody::H2(_) => None,
        }
    }

    fn spliced(&mut self, n: u64) {
        if let PeerBody::H1(b) = self {
            b.spliced_plain(n);
        }
    }
}
