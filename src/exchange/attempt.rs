//! One attempt to send a request to one upstream and read its response head.
//!
//! The mechanics are the [`Peer`]'s (connect, TLS, pool, the bytes); the attempt
//! reports how it failed in enough detail for the caller to decide on a retry (was any
//! byte of the request sent? see [`Cause`]) and on passive health (was it the
//! upstream's fault?). Whether the client connection can go on is its session's
//! decision (was the request body read to its end?), not the attempt's.

use std::net::SocketAddr;

use crate::downstream::h2::Detached;
use crate::downstream::Session;
use crate::engine::Engine;
use crate::error::{Error, Kind};
use crate::http::body::{CopyError, ReadError};
use crate::http::framing::Body;
use crate::http::hop;
use crate::http::parse::ReadHead;
use crate::http::replay::{Kept, Replay};
use crate::http::splice;
use crate::http::{RequestHead, ResponseHead};
use crate::rt;
use crate::upstream::group::Group;
use crate::upstream::peer::h1::H1;
use crate::upstream::peer::h2stream::{Unsent, H2};
use crate::upstream::peer::{self, Dial, Peer};

use super::cause::Cause;

/// What one attempt needs to know about the request.
pub(crate) struct Request<'a> {
    pub head: &'a RequestHead,
    pub body: Body,
    pub websocket: bool,
}

/// How an attempt failed.
pub(crate) struct Failed {
    pub err: Error,
    pub cause: Cause,
    /// Some request bytes may have reached the upstream.
    pub sent: bool,
}

impl Failed {
    fn new(err: Error, cause: Cause, sent: bool) -> Self {
        Failed { err, cause, sent }
    }
}

/// What a failed [`peer::dial`] means: its error and cause. A connect that failed for
/// want of a local resource is a shortage, no server's fault.
fn dial_failed(e: &Engine, addr: std::net::SocketAddr, failed: Dial) -> Failed {
    let (err, cause) = match failed {
        Dial::ConnectTimeout => (
            Error::new(Kind::GatewayTimeout, "upstream connect timed out"),
            Cause::ConnectTimeout,
        ),
        Dial::Connect(err) => match rt::local_shortage(&err) {
            Some(what) => {
                e.shortage.hit(what);
                (Error::io(Kind::LocalShortage, what, err), Cause::Local)
            }
            None => (
                Error::io(Kind::BadGateway, "upstream connect failed", err),
                Cause::Refused,
            ),
        },
        Dial::HandshakeTimeout => (
            Error::new(Kind::GatewayTimeout, "upstream TLS handshake timed out"),
            Cause::ConnectTimeout,
        ),
        Dial::Handshake(err) => {
            e.handshakes.upstream_failed(addr, &err);
            let err = Error::io(Kind::BadGateway, "upstream TLS handshake failed", err);
            (err, Cause::Refused)
        }
    };
    Failed::new(err, cause, false)
}

/// A pooled connection to server `idx` (if `may_resend` allows a stale one), or a new
/// one; for an h2 group, a stream slot on a shared connection. `client` goes into the
/// PROXY header of a group with `send_proxy_protocol` (never an h2 one: see `config`).
///
/// The peer is made in `slot`, the exchange's, and lent from there: a `Peer` is over
/// 128 bytes, so each move of it through a `Result` and a future's state was a call to
/// `memcpy` (bench/profiling.md, "Small keep-alive requests, round seven"). The last
/// try's peer, if any, is closed first, as it was when each try held its own.
async fn open<'p>(
    e: &Engine,
    group: &Group,
    (idx, client): (usize, SocketAddr),
    may_resend: bool,
    slot: &'p mut Option<Peer>,
) -> Result<&'p mut Peer, Failed> {
    *slot = None;
    if group.config.protocol.is_h2() {
        let stream = group
            .h2
            .slot(idx, || connect(e, group, idx, client))
            .await?;
        return Ok(slot.insert(Peer::H2(H2::new(stream, group.config.tls.is_some()))));
    }
    if let Some(peer) = H1::checkout(group, idx, may_resend) {
        return Ok(slot.insert(Peer::H1(peer)));
    }
    // Boxed, as the h2 pool's dial is: rare, and the largest state of an attempt.
    let stream = Box::pin(connect(e, group, idx, client)).await?;
    Ok(slot.insert(Peer::H1(H1::new(stream))))
}

/// A new connection (TCP, the PROXY header if the group sends one, and TLS if the group
/// has it) to server `idx`.
async fn connect(
    e: &Engine,
    group: &Group,
    idx: usize,
    client: SocketAddr,
) -> Result<crate::stream::Stream, Failed> {
    let addr = group.upstreams.addr(idx);
    let dialled = peer::dial(group, addr, e.config.timeouts.connect, Some(client)).await;
    if dialled.as_ref().map_or_else(Dial::connected, |_| true) {
        e.shortage.clear();
        group.pool.count_open();
    }
    dialled.map_err(|d| dial_failed(e, addr, d))
}

/// An h2 connection failed before the stream could start (the handshake): nothing
/// was sent, and the server is to blame.
impl From<std::io::Error> for Failed {
    fn from(err: std::io::Error) -> Self {
        let err = Error::io(Kind::BadGateway, "upstream h2 connection failed", err);
        Failed::new(err, Cause::Refused, false)
    }
}

pub(super) fn request_copy_error(err: CopyError) -> Failed {
    let (err, cause, sent) = match err {
        CopyError::Read(ReadError::ContinueFailed) => {
            let err = Error::new(Kind::ClientGone, "client gone before body");
            (err, Cause::ClientGone, false)
        }
        CopyError::Read(ReadError::BadChunk(why)) => {
            (Error::new(Kind::BadRequest, why), Cause::Client, true)
        }
        CopyError::Read(ReadError::Io(err)) => {
            let err = Error::io(Kind::ClientGone, "client read failed mid-body", err);
            (err, Cause::Client, true)
        }
        CopyError::Read(_) => {
            let err = Error::new(Kind::ClientGone, "client stalled or left mid-body");
            (err, Cause::Client, true)
        }
        CopyError::TooLarge => {
            let err = Error::new(Kind::BodyTooLarge, "request body too large");
            (err, Cause::Client, true)
        }
        CopyError::Write(err) => {
            let err = Error::io(Kind::BadGateway, "upstream write failed", err);
            (err, Cause::Reset, true)
        }
    };
    Failed::new(err, cause, sent)
}

/// Sends the request to server `idx` and reads the final response head into `res`.
/// Leaves the peer that answered in `peer` and returns the request body bytes sent
/// (so far, for full duplex); a failed attempt leaves no peer.
///
/// **Full duplex** (see `upstream::peer::duplex`): when the group speaks h2 and the
/// client's session can hand its body out on its own (an h2 client), the body goes up
/// while the answer is awaited and relayed. Otherwise (an HTTP/1.1 client or upstream)
/// the whole body is sent first, as nginx does by default; an HTTP/1.1 origin that
/// answers early (a 413 or 401 before reading the body) is still read once the write
/// stops.
///
/// **Replay**: `kept` is the retry buffer (`http::replay`), held by the caller across
/// attempts; a request the server did not process goes again with the body bytes it
/// holds, then the rest of the client's body.
pub(crate) async fn attempt<S: Session>(
    e: &Engine,
    group: &Group,
    client: &mut S,
    to: (usize, &Request<'_>),
    kept: &mut Kept,
    (scratch, res): (&mut Vec<u8>, &mut ResponseHead),
    peer: &mut Option<Peer>,
) -> Result<u64, Failed> {
    let duplex = group.config.protocol.is_h2() && !to.1.body.is_empty() && !to.1.websocket;
    let mut detached = match duplex {
        true => client
            .detach_body(e.config.timeouts.client_body)
            .map(|body| Replay::new(body, std::mem::take(kept))),
        false => None,
    };
    let tried = attempt_with(
        e,
        group,
        client,
        to,
        (scratch, res),
        kept,
        (&mut detached, peer),
    )
    .await;
    if tried.is_err() {
        *peer = None;
    }
    if let Some(body) = detached {
        let (body, was_kept) = body.into_parts();
        *kept = was_kept;
        client.reattach_body(body);
    }
    tried
}

/// The client's body taken out for full duplex, with its retry buffer.
type Taken = Option<Replay<Detached>>;

/// [`attempt`], with the client's body `detached` for full duplex (taken by the peer
/// that answers; left there, or put back, when the attempt fails).
async fn attempt_with<S: Session>(
    e: &Engine,
    group: &Group,
    client: &mut S,
    (idx, req): (usize, &Request<'_>),
    (scratch, res): (&mut Vec<u8>, &mut ResponseHead),
    kept: &mut Kept,
    (detached, slot): (&mut Taken, &mut Option<Peer>),
) -> Result<u64, Failed> {
    let t = &e.config.timeouts;
    // A pooled connection may have been closed by the origin just as we picked it; a
    // request that got no byte back is then sent once more on a new one: one without
    // a body, or an idempotent one whose body the retry buffer still holds whole.
    let replayable = super::forward::idempotent(&req.head.method) && kept.may_replay();
    let mut may_resend = req.body.is_empty() || replayable;
    let mut gone_away_resent = false;
    loop {
        let fresh_ok = may_resend && req.body.is_empty();
        let peer = open(e, group, (idx, client.peer()), fresh_ok, slot).await?;
        // The detached body (256 bytes) is moved only when an h2 stream takes it.
        let sent = match &mut *peer {
            Peer::H2(p) if detached.is_some() => {
                let body = detached.take().expect("checked by the guard");
                let opened = p.send_duplex(req.head, req.body, body, t.upstream_read);
                opened.await.map(|()| 0)
            }
            peer => {
                let body = splice::Gate::new(client.body(t.client_body), e.config.splice);
                let mut body = Replay::new(body, std::mem::take(kept));
                let (head, framing) = (req.head, req.body);
                let batch = rt::Batch::server(idx);
                let sent = peer
                    .send(head, framing, &mut body, scratch, t.upstream_read, batch)
                    .await;
                *kept = body.into_parts().1;
                sent
            }
        };
        let sent = match sent {
            Ok(n) => n,
            Err(err) => {
                reclaim(peer, detached);
                if matches!(err, CopyError::Write(_))
                    && peer.reused()
                    && may_resend
                    && rewind(kept, detached)
                {
                    may_resend = false;
                    continue;
                }
                match unsent(peer, &mut gone_away_resent, kept, detached) {
                    Resend::SameServer => continue,
                    Resend::OtherServer(failed) => return Err(failed),
                    Resend::No => return Err(request_copy_error(err)),
                }
            }
        };
        client.request_sent();
        let read = read_final_head(e, peer, res, req.websocket, client).await;
        if let Some(err) = peer.upload_failed() {
            reclaim(peer, detached);
            return Err(request_copy_error(err));
        }
        let gone = match read {
            Ok(()) => return Ok(sent),
            Err(gone) => gone,
        };
        reclaim(peer, detached);
        // Closed or reset before a response: on a reused connection this is the
        // origin's keep-alive close racing our request, so send it once more fresh.
        if matches!(gone, Gone::Closed | Gone::Reset(_))
            && peer.reused()
            && may_resend
            && peer.unsent().is_none()
            && rewind(kept, detached)
        {
            may_resend = false;
            continue;
        }
        match unsent(peer, &mut gone_away_resent, kept, detached) {
            Resend::SameServer => continue,
            Resend::OtherServer(failed) => return Err(failed),
            Resend::No => return Err(gone.into_failed()),
        }
    }
}

/// Takes the client's body back from a failed full-duplex `peer`.
fn reclaim(peer: &mut Peer, detached: &mut Taken) {
    if let Some(body) = peer.reclaim() {
        *detached = Some(body);
    }
}

/// Makes the next attempt send the body from its start, from the retry buffer where
/// it is (with the detached body, or the caller's); `false` if it cannot be.
fn rewind(kept: &mut Kept, detached: &mut Taken) -> bool {
    match detached {
        Some(body) => body.kept().rewind(),
        None => kept.rewind(),
    }
}

/// What to do with a request an h2 server did not process.
enum Resend {
    /// Not such a case: the failure stands.
    No,
    /// The connection was going away: once, on another connection to the same server.
    SameServer,
    /// Refused: to another server, as a request never sent (even a POST).
    OtherServer(Failed),
}

/// Whether an h2 stream that failed can go again, and where (RFC 9113 §8.7: a
/// refused stream, or one above a GOAWAY's last-stream-id, was not processed), if its
/// body can be sent again whole (none of it used yet, or all of it kept).
fn unsent(peer: &Peer, gone_away_resent: &mut bool, kept: &mut Kept, body: &mut Taken) -> Resend {
    let Some(why) = peer.unsent() else {
        return Resend::No;
    };
    if !rewind(kept, body) {
        return Resend::No;
    }
    match why {
        Unsent::GoingAway if !*gone_away_resent => {
            *gone_away_resent = true;
            Resend::SameServer
        }
        why => {
            let what = match why {
                Unsent::Refused => "upstream refused the stream",
                Unsent::GoingAway => "upstream connection went away before the stream",
            };
            Resend::OtherServer(Failed::new(
                Error::new(Kind::BadGateway, what),
                Cause::Reset,
                false,
            ))
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
    /// The attempt's failure: the whole request was sent.
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
        Failed::new(err, cause, true)
    }

    /// How reading head number `n` (0 for the first) failed.
    fn of(read: ReadHead, first: bool) -> Gone {
        match read {
            ReadHead::Closed if first => Gone::Closed,
            ReadHead::Closed => {
                Gone::Failed(Error::new(Kind::BadGateway, "upstream closed after 1xx"))
            }
            ReadHead::Failed(err) if err.io.is_some() => Gone::Reset(err),
            ReadHead::Failed(err) => Gone::Failed(err),
        }
    }
}

/// Reads the final (non-1xx) response head. Interim ones (`103 Early Hints`, say) are
/// relayed to the client, as RFC 9110 §15.2 asks of a proxy and HAProxy does (nginx 1.22
/// takes a 103 for the final response and relays the real one as its body); hop-by-hop
/// fields are removed as from a final response, and middleware does not see them. If
/// the client cannot take one, weir stops relaying, and the final response meets the
/// same fate.
async fn read_final_head<S: Session>(
    e: &Engine,
    peer: &mut Peer,
    res: &mut ResponseHead,
    websocket: bool,
    client: &mut S,
) -> Result<(), Gone> {
    let t = &e.config.timeouts;
    let bad = |why| Gone::Failed(Error::new(Kind::BadGateway, why));
    let mut first = true;
    let mut relay = true;
    loop {
        let read = peer.read_head(res, e.limits, t.upstream_read).await;
        read.map_err(|r| Gone::of(r, first))?;
        first = false;
        match res.status {
            101 if websocket => return Ok(()),
            101 => return Err(bad("unexpected 101 from upstream")),
            100 => continue, // the session answers `Expect` itself
            102..=199 if relay => {
                hop::strip(&mut res.headers, false);
                relay = client.interim(res, t.client_body).await;
            }
            102..=199 => {}
            _ => return Ok(()),
        }
    }
}
