//! One attempt to send a request to one upstream and read its response head.
//!
//! The attempt reports how it failed in enough detail for the caller to decide on a
//! retry (was any byte of the request sent?), on passive health (was it the upstream's
//! fault?) and on the client connection (was the request fully read?).

use std::io::IoSlice;
use std::net::SocketAddr;

use crate::error::{Error, Kind};
use crate::http::body::{self, Copy, CopyError, Out, ReadError};
use crate::http::conn::Conn;
use crate::http::framing::Body;
use crate::http::hop;
use crate::http::parse::{self, ReadHead};
use crate::http::write::{self, Framing};
use crate::http::ResponseHead;
use crate::proxy::{Client, Engine};
use crate::rt;
use crate::upstream::pool::{UpstreamConn, BUFFER};

/// What one attempt needs to know about the request.
pub(crate) struct Request<'a> {
    /// The serialised head for this upstream.
    pub head: &'a [u8],
    pub body: Body,
    /// The client asked for `100-continue` and weir has not answered it yet.
    pub continue_100: bool,
    /// The client speaks HTTP/1.1, so interim (1xx) responses are relayed to it.
    pub relay_1xx: bool,
    pub websocket: bool,
}

/// How an attempt failed.
pub(crate) struct Failed {
    pub err: Error,
    /// Some request bytes may have reached the upstream.
    pub sent: bool,
    /// The upstream's fault (counts against its health).
    pub upstream_fault: bool,
    /// Worth trying another server (subject to the idempotency rule).
    pub retryable: bool,
    /// The client's request was read completely, so its connection can go on.
    pub client_clean: bool,
    /// A word for the log: `refused`, `connect timeout`, `timeout`, `closed`, ...
    pub cause: &'static str,
}

impl Failed {
    fn upstream(err: Error, sent: bool, cause: &'static str, client_clean: bool) -> Self {
        let retryable = !matches!(err.kind, Kind::BadGateway)
            || matches!(cause, "refused" | "closed" | "reset");
        Failed {
            err,
            sent,
            upstream_fault: true,
            retryable,
            client_clean,
            cause,
        }
    }
}

async fn connect(e: &Engine, addr: SocketAddr) -> Result<UpstreamConn, (Error, &'static str)> {
    match rt::timeout(e.config.timeouts.connect, rt::connect(addr)).await {
        None => Err((
            Error::new(Kind::GatewayTimeout, "upstream connect timed out"),
            "connect timeout",
        )),
        Some(Err(err)) => Err((
            Error::io(Kind::BadGateway, "upstream connect failed", err),
            "refused",
        )),
        Some(Ok(stream)) => {
            e.pool.count_open();
            Ok(Conn::new(stream, BUFFER, BUFFER))
        }
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

/// Sends the request to server `idx` and reads the final response head into `res`.
/// Returns the connection and the request body bytes sent.
pub(crate) async fn attempt(
    e: &Engine,
    client: &mut Client,
    idx: usize,
    req: &mut Request<'_>,
    res: &mut ResponseHead,
) -> Result<(UpstreamConn, u64), Failed> {
    let addr = e.upstreams[idx].addr;
    let t = &e.config.timeouts;
    let nothing_unread = req.body.is_empty();
    // A pooled connection may have been closed by the origin just as we picked it; an
    // empty-bodied request that got no byte back is then sent once more on a new one.
    let mut may_resend = req.body.is_empty();
    loop {
        let (mut up, reused) = match e.pool.checkout(idx, may_resend) {
            Some(c) => (c, true),
            None => match connect(e, addr).await {
                Ok(c) => (c, false),
                Err((err, cause)) => {
                    return Err(Failed::upstream(err, false, cause, nothing_unread))
                }
            },
        };
        if req.continue_100 {
            req.continue_100 = false;
            let mut go = [IoSlice::new(b"HTTP/1.1 100 Continue\r\n\r\n")];
            let sent = rt::timeout(
                t.client_body,
                body::write_all_vectored(&mut client.io, &mut go),
            )
            .await;
            if sent.is_none_or(|r| r.is_err()) {
                return Err(Failed {
                    err: Error::new(Kind::ClientGone, "client gone before body"),
                    sent: false,
                    upstream_fault: false,
                    retryable: false,
                    client_clean: false,
                    cause: "client gone",
                });
            }
        }
        let out = match req.body {
            Body::Chunked => Out::Chunked,
            _ => Out::Raw,
        };
        let opts = Copy {
            read_timeout: t.client_body,
            write_timeout: t.upstream_read,
            limit: e.config.limits.max_body_bytes,
            prefix: req.head,
        };
        // Sent with the rest of this turn's writes, next to the others for this server
        // (see `rt::end_of_batch`).
        rt::end_of_batch(idx as u64).await;
        let sent = match body::copy(client, req.body, &mut up.io, out, opts).await {
            Ok(n) => n,
            Err(CopyError::Write(_)) if reused && may_resend => {
                may_resend = false;
                continue;
            }
            Err(CopyError::Write(err)) => {
                let err = Error::io(Kind::BadGateway, "upstream write failed", err);
                return Err(Failed::upstream(err, true, "reset", nothing_unread));
            }
            Err(err) => {
                return Err(Failed {
                    err: request_copy_error(err),
                    sent: true,
                    upstream_fault: false,
                    retryable: false,
                    client_clean: false,
                    cause: "client",
                })
            }
        };
        let relay = req.relay_1xx.then_some(&mut *client);
        match read_final_head(e, &mut up, res, req.websocket, relay).await {
            Ok(()) => return Ok((up, sent)),
            // Closed or reset before a response: on a reused connection this is the
            // origin's keep-alive close racing our request, so send it once more fresh.
            Err(Gone::Closed | Gone::Reset(_)) if reused && may_resend => may_resend = false,
            Err(Gone::Closed) => {
                let err = Error::new(Kind::BadGateway, "upstream closed without a response");
                return Err(Failed::upstream(err, true, "closed", true));
            }
            Err(Gone::Reset(err)) => return Err(Failed::upstream(err, true, "reset", true)),
            Err(Gone::Failed(err)) => {
                let cause = if err.kind == Kind::GatewayTimeout {
                    "timeout"
                } else {
                    "bad response"
                };
                return Err(Failed::upstream(err, true, cause, true));
            }
        }
    }
}

/// Writes an interim response (`103 Early Hints`, say) to the client, as RFC 9110 §15.2
/// asks of a proxy and HAProxy does (nginx 1.22 takes a 103 for the final response and
/// relays the real one as its body). Hop-by-hop fields are removed as from a final
/// response; middleware does not see it. Returns false if the client could not take it:
/// weir then stops relaying, and the final response meets the same fate.
async fn relay_interim(e: &Engine, client: &mut Client, res: &mut ResponseHead) -> bool {
    hop::strip(&mut res.headers, false);
    let mut out = Vec::new();
    write::response_head(&mut out, res, Framing::None, None);
    let sent = rt::timeout(
        e.config.timeouts.client_body,
        body::write_all_vectored(&mut client.io, &mut [IoSlice::new(&out)]),
    )
    .await;
    sent.is_some_and(|r| r.is_ok())
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

/// Reads the final (non-1xx) response head, relaying interim ones to `relay`.
async fn read_final_head(
    e: &Engine,
    up: &mut UpstreamConn,
    res: &mut ResponseHead,
    websocket: bool,
    mut relay: Option<&mut Client>,
) -> Result<(), Gone> {
    let bad = |why| Gone::Failed(Error::new(Kind::BadGateway, why));
    let mut first = true;
    loop {
        let head = async {
            if first && up.buffered().is_empty() {
                rt::readable(&up.io).await; // the answer cannot be there yet
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
                    102..=199 => {
                        if let Some(client) = relay.as_deref_mut() {
                            if !relay_interim(e, client, res).await {
                                relay = None;
                            }
                        }
                    }
                    _ => return Ok(()),
                }
            }
        }
    }
}
