//! One attempt to send a request to one upstream and read its response head.
//!
//! The attempt reports how it failed in enough detail for the caller to decide on a
//! retry (was any byte of the request sent? see [`Cause`]), on passive health (was it
//! the upstream's fault?) and on the client connection (was the request fully read?).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_rustls::rustls::ClientConfig;
use futures_rustls::TlsConnector;

use crate::config::UpstreamTls;
use crate::downstream::Downstream;
use crate::engine::Engine;
use crate::error::{Error, Kind};
use crate::http::body::{self, Copy, CopyError, Out, ReadError};
use crate::http::conn::Conn;
use crate::http::framing::Body;
use crate::http::hop;
use crate::http::parse::{self, ReadHead};
use crate::http::ResponseHead;
use crate::rt;
use crate::stream::Stream;
use crate::tls;
use crate::upstream::group::Group;
use crate::upstream::pool::{UpstreamConn, BUFFER, FIRST_READ};

use super::cause::Cause;

/// What one attempt needs to know about the request.
pub(crate) struct Request<'a> {
    /// The serialised head for this upstream.
    pub head: &'a [u8],
    pub body: Body,
    /// The client asked for `100-continue` and weir has not answered it yet.
    pub continue_100: bool,
    pub websocket: bool,
}

/// How an attempt failed.
pub(crate) struct Failed {
    pub err: Error,
    pub cause: Cause,
    /// Some request bytes may have reached the upstream.
    pub sent: bool,
    /// The client's request was read completely, so its connection can go on.
    pub client_clean: bool,
}

impl Failed {
    fn new(err: Error, cause: Cause, sent: bool, client_clean: bool) -> Self {
        Failed {
            err,
            cause,
            sent,
            client_clean,
        }
    }
}

async fn connect(
    e: &Engine,
    group: &Group,
    addr: SocketAddr,
) -> Result<UpstreamConn, (Error, Cause)> {
    match rt::timeout(e.config.timeouts.connect, rt::connect(addr)).await {
        None => Err((
            Error::new(Kind::GatewayTimeout, "upstream connect timed out"),
            Cause::ConnectTimeout,
        )),
        Some(Err(err)) => match rt::local_shortage(&err) {
            Some(what) => {
                e.shortage.hit(what);
                Err((Error::io(Kind::LocalShortage, what, err), Cause::Local))
            }
            None => Err((
                Error::io(Kind::BadGateway, "upstream connect failed", err),
                Cause::Refused,
            )),
        },
        Some(Ok(stream)) => {
            e.shortage.clear();
            group.pool.count_open();
            let stream = match (group.tls(), &group.config.tls) {
                (Some(config), Some(t)) => handshake(e, &config, t, addr, stream).await?,
                _ => stream.into(),
            };
            Ok(Conn::new(stream, FIRST_READ, BUFFER))
        }
    }
}

/// The TLS handshake with an upstream, within `timeouts.connect`. A certificate that
/// fails verification is a 502 with the reason logged, never a plaintext fallback.
async fn handshake(
    e: &Engine,
    config: &Arc<ClientConfig>,
    t: &UpstreamTls,
    addr: SocketAddr,
    tcp: rt::TcpStream,
) -> Result<Stream, (Error, Cause)> {
    let name = tls::server_name(t, addr);
    let connect = TlsConnector::from(config.clone()).connect(name, tcp);
    match rt::timeout(e.config.timeouts.connect, connect).await {
        None => Err((
            Error::new(Kind::GatewayTimeout, "upstream TLS handshake timed out"),
            Cause::ConnectTimeout,
        )),
        Some(Err(err)) => {
            e.handshakes.upstream_failed(addr, &err);
            Err((
                Error::io(Kind::BadGateway, "upstream TLS handshake failed", err),
                Cause::Refused,
            ))
        }
        Some(Ok(s)) => Ok(Stream::Client(Box::new(s))),
    }
}

fn request_copy_error(err: CopyError) -> Error {
    match err {
        CopyError::Read(ReadError::BadChunk(why)) => Error::new(Kind::BadRequest, why),
        CopyError::Read(ReadError::Io(err)) => {
            Error::io(Kind::ClientGone, "client read failed mid-body", err)
        }
        CopyError::Read(_) => Error::new(Kind::ClientGone, "client stalled or left mid-body"),
        CopyError::TooLarge => Error::new(Kind::BodyTooLarge, "request body too large"),
        CopyError::Write(err) => Error::io(Kind::BadGateway, "upstream write failed", err),
    }
}

/// A pooled connection to server `idx` (if `may_resend` allows a stale one), or a new
/// one. The flag says whether it was reused.
async fn open(
    e: &Engine,
    group: &Group,
    idx: usize,
    may_resend: bool,
) -> Result<(UpstreamConn, bool), (Error, Cause)> {
    if let Some(c) = group.pool.checkout(idx, may_resend) {
        return Ok((c, true));
    }
    Ok((connect(e, group, group.upstreams[idx].addr).await?, false))
}

/// Writes the head and streams the body to `up`; returns the body bytes sent.
async fn send(
    e: &Engine,
    client: &mut Downstream,
    idx: usize,
    req: &Request<'_>,
    up: &mut UpstreamConn,
) -> Result<u64, CopyError> {
    let out = match req.body {
        Body::Chunked => Out::Chunked,
        _ => Out::Raw,
    };
    let t = &e.config.timeouts;
    let opts = Copy {
        read_timeout: t.client_body,
        write_timeout: t.upstream_read,
        limit: e.config.limits.max_body_bytes,
        prefix: req.head,
    };
    // Sent with the rest of this turn's writes, next to the others for this server
    // (see `rt::end_of_batch`).
    rt::end_of_batch(idx as u64).await;
    body::copy(client.reader(), req.body, &mut up.io, out, opts).await
}

/// Sends the request to server `idx` and reads the final response head into `res`.
/// Returns the connection and the request body bytes sent.
pub(crate) async fn attempt(
    e: &Engine,
    group: &Group,
    client: &mut Downstream,
    idx: usize,
    req: &mut Request<'_>,
    res: &mut ResponseHead,
) -> Result<(UpstreamConn, u64), Failed> {
    let nothing_unread = req.body.is_empty();
    // A pooled connection may have been closed by the origin just as we picked it; an
    // empty-bodied request that got no byte back is then sent once more on a new one.
    let mut may_resend = req.body.is_empty();
    loop {
        let (mut up, reused) = open(e, group, idx, may_resend)
            .await
            .map_err(|(err, cause)| Failed::new(err, cause, false, nothing_unread))?;
        if req.continue_100 {
            req.continue_100 = false;
            if !client.write_continue(e.config.timeouts.client_body).await {
                let err = Error::new(Kind::ClientGone, "client gone before body");
                return Err(Failed::new(err, Cause::ClientGone, false, false));
            }
        }
        let sent = match send(e, client, idx, req, &mut up).await {
            Ok(n) => n,
            Err(CopyError::Write(_)) if reused && may_resend => {
                may_resend = false;
                continue;
            }
            Err(CopyError::Write(err)) => {
                let err = Error::io(Kind::BadGateway, "upstream write failed", err);
                return Err(Failed::new(err, Cause::Reset, true, nothing_unread));
            }
            Err(err) => {
                let err = request_copy_error(err);
                return Err(Failed::new(err, Cause::Client, true, false));
            }
        };
        // The request is all upstream: while the answer is awaited (most of an
        // exchange's life in a burst), the client's read buffer is not needed.
        client.reader().release();
        match read_final_head(e, &mut up, res, req.websocket, client).await {
            Ok(()) => return Ok((up, sent)),
            // Closed or reset before a response: on a reused connection this is the
            // origin's keep-alive close racing our request, so send it once more fresh.
            Err(Gone::Closed | Gone::Reset(_)) if reused && may_resend => may_resend = false,
            Err(gone) => return Err(gone.into_failed()),
        }
    }
}

/// How reading a response head failed.
enum Gone {
    /// Closed before sending any byte.
    Closed,
    /// A connection error (reset) while reading.
    Reset(Error),
    /// A timeout or a malformed head.
    Failed(Error),
}

impl Gone {
    /// The attempt's failure: the whole request was sent, so the client is clean.
    fn into_failed(self) -> Failed {
        let (err, cause) = match self {
            Gone::Closed => (
                Error::new(Kind::BadGateway, "upstream closed without a response"),
                Cause::Closed,
            ),
            Gone::Reset(err) => (err, Cause::Reset),
            Gone::Failed(err) if err.kind == Kind::GatewayTimeout => (err, Cause::Timeout),
            Gone::Failed(err) => (err, Cause::BadResponse),
        };
        Failed::new(err, cause, true, true)
    }
}

/// Reads the final (non-1xx) response head. Interim ones (`103 Early Hints`, say) are
/// relayed to the client, as RFC 9110 §15.2 asks of a proxy and HAProxy does (nginx 1.22
/// takes a 103 for the final response and relays the real one as its body); hop-by-hop
/// fields are removed as from a final response, and middleware does not see them. If
/// the client cannot take one, weir stops relaying, and the final response meets the
/// same fate.
async fn read_final_head(
    e: &Engine,
    up: &mut UpstreamConn,
    res: &mut ResponseHead,
    websocket: bool,
    client: &mut Downstream,
) -> Result<(), Gone> {
    let bad = |why| Gone::Failed(Error::new(Kind::BadGateway, why));
    let mut first = true;
    let mut relay = true;
    loop {
        let head = async {
            if first && up.buffered().is_empty() {
                up.io.readable().await; // the answer cannot be there yet
            }
            parse::read_response(up, e.limits, res).await
        };
        match rt::timeout(e.config.timeouts.upstream_read, head).await {
            None => {
                let err = Error::new(Kind::GatewayTimeout, "upstream response timed out");
                return Err(Gone::Failed(err));
            }
            Some(Err(ReadHead::Closed)) if first => return Err(Gone::Closed),
            Some(Err(ReadHead::Closed)) => return Err(bad("upstream closed after 1xx")),
            Some(Err(ReadHead::Failed(err))) if err.io.is_some() => return Err(Gone::Reset(err)),
            Some(Err(ReadHead::Failed(err))) => return Err(Gone::Failed(err)),
            Some(Ok(n)) => {
                up.consume(n);
                first = false;
                match res.status {
                    101 if websocket => return Ok(()),
                    101 => return Err(bad("unexpected 101 from upstream")),
                    100 => continue, // weir answered `Expect` itself
                    102..=199 if relay => {
                        hop::strip(&mut res.headers, false);
                        relay = client
                            .write_interim(res, e.config.timeouts.client_body)
                            .await;
                    }
                    102..=199 => {}
                    _ => return Ok(()),
                }
            }
        }
    }
}
