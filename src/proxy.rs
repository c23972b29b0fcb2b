//! One exchange: a parsed request through the chain, to an upstream, and back.
//!
//! The steps follow DESIGN.md's "way of one request": checks and framing, hop-by-hop
//! stripping and `X-Forwarded-*`, `on_request`, `select_upstream`, pooled connect,
//! head + body upstream, response head, `on_response`, body back, `on_complete`.
//! Every path, error or not, ends in exactly one `on_complete`.

use std::net::SocketAddr;

use crate::config::Config;
use crate::error::{Error, Kind};
use crate::http::body::{self, Copy, CopyError, Out, ReadError};
use crate::http::conn::Conn;
use crate::http::framing::{self, Body};
use crate::http::parse::{self, HeadLimits, ReadHead};
use crate::http::write::{self, Framing};
use crate::http::{hop, RequestHead, ResponseHead};
use crate::middleware::{Chain, Ctx, Response, Summary};
use crate::request;
use crate::rt::{self, TcpStream};
use crate::shutdown::Signal;
use crate::upstream::pool::{Pool, UpstreamConn, BUFFER};
use crate::upstream::Upstreams;

/// Everything a connection task needs, shared by all of them.
pub(crate) struct Engine {
    pub config: Config,
    pub chain: Chain,
    pub upstreams: Upstreams,
    pub pool: Pool,
    pub limits: HeadLimits,
    pub stop: Signal,
}

/// Per-connection buffers, reused by every request on the connection.
#[derive(Default)]
pub(crate) struct Scratch {
    pub req: RequestHead,
    pub res: ResponseHead,
    out: Vec<u8>,
    tmp: Vec<u8>,
}

pub(crate) type Client = Conn<TcpStream>;

/// What to do with the client connection after an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
    /// Close after reading (and dropping) what the client may still be sending, so the
    /// error reply is not destroyed by a TCP reset.
    CloseAfterError,
}

/// What happened, for `on_complete` and the connection loop.
struct Outcome {
    status: u16,
    upstream: Option<SocketAddr>,
    bytes_in: u64,
    bytes_out: u64,
    error: Option<Error>,
    next: Next,
}

impl Outcome {
    fn new() -> Self {
        Outcome {
            status: 0,
            upstream: None,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            next: Next::Close,
        }
    }
}

/// Runs one request whose head (`head_len` bytes) is at the front of `client`'s buffer.
pub(crate) async fn exchange(
    e: &Engine,
    client: &mut Client,
    peer: SocketAddr,
    head_len: usize,
    s: &mut Scratch,
) -> Next {
    client.consume(head_len);
    let mut cx = Ctx::new(peer);
    let mut o = Outcome::new();
    run(e, client, &mut cx, s, &mut o).await;
    complete(e, &cx, &s.req, &o);
    o.next
}

/// Answers a request that could not be read (bad or slow head) and logs it.
pub(crate) async fn reject(
    e: &Engine,
    client: &mut Client,
    peer: SocketAddr,
    s: &mut Scratch,
    err: Error,
) {
    s.req.clear();
    s.req.method.clear();
    let cx = Ctx::new(peer);
    let mut o = Outcome::new();
    fail(e, client, &mut s.out, &mut o, err, false).await;
    complete(e, &cx, &s.req, &o);
}

fn complete(e: &Engine, cx: &Ctx, req: &RequestHead, o: &Outcome) {
    e.chain.on_complete(
        cx,
        &Summary {
            request: req,
            status: o.status,
            upstream: o.upstream,
            bytes_in: o.bytes_in,
            bytes_out: o.bytes_out,
            duration: cx.started.elapsed(),
            error: o.error.as_ref(),
        },
    );
}

/// Writes weir's own small error reply for `err` and records it in `o`.
async fn fail(
    e: &Engine,
    client: &mut Client,
    out: &mut Vec<u8>,
    o: &mut Outcome,
    err: Error,
    keep: bool,
) {
    let keep = keep && !e.stop.is_fired();
    if err.kind == Kind::ClientGone {
        o.next = Next::Close;
        o.error = Some(err);
        return;
    }
    let status = err.status();
    let mut res = ResponseHead {
        status,
        ..Default::default()
    };
    let _ = res.headers.add("Content-Type", "text/plain; charset=utf-8");
    let mut body = Vec::with_capacity(40);
    write::push_u64(&mut body, u64::from(status));
    body.push(b' ');
    body.extend_from_slice(crate::http::head::reason(status).as_bytes());
    body.push(b'\n');
    write::response_head(
        out,
        &res,
        Framing::Length(body.len() as u64),
        (!keep).then_some("close"),
    );
    out.extend_from_slice(&body);
    let sent = rt::timeout(
        e.config.timeouts.client_body,
        body::write_all_vectored(&mut client.io, &mut [std::io::IoSlice::new(out)]),
    )
    .await;
    o.status = status;
    o.bytes_out = body.len() as u64;
    o.error = Some(err);
    o.next = match sent {
        Some(Ok(())) if keep => Next::KeepAlive,
        Some(Ok(())) => Next::CloseAfterError,
        _ => Next::Close,
    };
}

/// The error for a request a middleware failed with [`Ctx::fail`].
fn middleware_failed() -> Error {
    Error::new(Kind::Internal, "a middleware failed the request")
}

async fn connect(e: &Engine, addr: SocketAddr) -> Result<UpstreamConn, Error> {
    match rt::timeout(e.config.timeouts.connect, rt::connect(addr)).await {
        None => Err(Error::new(
            Kind::GatewayTimeout,
            "upstream connect timed out",
        )),
        Some(Err(err)) => Err(Error::io(Kind::BadGateway, "upstream connect failed", err)),
        Some(Ok(stream)) => {
            e.pool.count_open();
            Ok(Conn::new(stream, BUFFER, BUFFER))
        }
    }
}

fn body_out(body: Body) -> Out {
    match body {
        Body::Chunked => Out::Chunked,
        _ => Out::Raw,
    }
}

/// Classifies a failed request-body relay.
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

/// Classifies a failed response-body relay (the head is already on its way).
fn response_copy_error(err: CopyError) -> Error {
    match err {
        CopyError::Read(ReadError::TimedOut) => {
            Error::new(Kind::GatewayTimeout, "upstream body timed out")
        }
        CopyError::Read(ReadError::Io(err)) => {
            Error::io(Kind::BadGateway, "upstream body read failed", err)
        }
        CopyError::Read(_) => Error::new(Kind::BadGateway, "upstream body truncated or malformed"),
        CopyError::TooLarge => Error::new(Kind::Internal, "response limit"),
        CopyError::Write(err) => Error::io(Kind::ClientGone, "client write failed", err),
    }
}

async fn run(e: &Engine, client: &mut Client, cx: &mut Ctx, s: &mut Scratch, o: &mut Outcome) {
    let Scratch { req, res, out, tmp } = s;
    let t = &e.config.timeouts;
    let asks = match request::check(req) {
        Ok(a) => a,
        Err(err) => return fail(e, client, out, o, err, false).await,
    };
    let body = match framing::request(req) {
        Ok(b) => b,
        Err(err) => return fail(e, client, out, o, err, false).await,
    };
    let limit = e.config.limits.max_body_bytes;
    if matches!(body, Body::Length(n) if limit != 0 && n > limit) {
        return fail(
            e,
            client,
            out,
            o,
            Error::new(Kind::BodyTooLarge, "request body too large"),
            false,
        )
        .await;
    }
    let said = hop::strip(&mut req.headers, false);
    let client_keep = if req.minor == 0 {
        said.keep_alive
    } else {
        !said.close
    };
    // After an error reply the connection may continue only if no body is left unread.
    let keep_on_error = client_keep && body.is_empty();
    request::add_forwarded(req, cx.client, e.config.forwarded, tmp);

    let replied = e.chain.on_request(cx, req);
    if cx.failed() {
        return fail(e, client, out, o, middleware_failed(), keep_on_error).await;
    }
    if let Err((i, reply)) = replied {
        return local_reply(e, client, cx, res, out, o, i, reply, req, keep_on_error).await;
    }
    let picked = e.chain.select_upstream(cx, req, &e.upstreams);
    if cx.failed() {
        return fail(e, client, out, o, middleware_failed(), keep_on_error).await;
    }
    let Some(idx) = picked else {
        return fail(
            e,
            client,
            out,
            o,
            Error::new(Kind::NoUpstream, "no upstream selected"),
            keep_on_error,
        )
        .await;
    };
    cx.upstream = Some(idx);
    let addr = e.upstreams[idx].addr;
    o.upstream = Some(addr);
    if !req.headers.contains("host") {
        tmp.clear();
        tmp.extend_from_slice(addr.to_string().as_bytes());
        let _ = req.headers.set("Host", &tmp[..]);
    }
    write::request_head(out, req, body.into());

    // A pooled connection may have been closed by the origin just as we picked it; an
    // empty-bodied request that got no byte back is then sent once more on a new one.
    let mut may_retry = body.is_empty();
    let mut up = loop {
        let (mut up, reused) = match e.pool.checkout(idx) {
            Some(c) => (c, true),
            None => match connect(e, addr).await {
                Ok(c) => (c, false),
                Err(err) => return fail(e, client, out, o, err, keep_on_error).await,
            },
        };
        if asks.continue_100 && !body.is_empty() && req.minor == 1 && o.bytes_in == 0 {
            let mut go = [std::io::IoSlice::new(b"HTTP/1.1 100 Continue\r\n\r\n")];
            let sent = rt::timeout(
                t.client_body,
                body::write_all_vectored(&mut client.io, &mut go),
            )
            .await;
            if sent.is_none_or(|r| r.is_err()) {
                o.error = Some(Error::new(Kind::ClientGone, "client gone before body"));
                return;
            }
        }
        let opts = Copy {
            read_timeout: t.client_body,
            write_timeout: t.upstream_read,
            limit,
            prefix: out,
        };
        match body::copy(client, body, &mut up.io, body_out(body), opts).await {
            Ok(n) => o.bytes_in = n,
            Err(CopyError::Write(_)) if reused && may_retry => {
                may_retry = false;
                continue;
            }
            Err(err) => {
                let keep = matches!(err, CopyError::Write(_)) && keep_on_error;
                return fail(e, client, out, o, request_copy_error(err), keep).await;
            }
        }
        match read_final_head(e, &mut up, res).await {
            Ok(()) => break up,
            Err(None) if reused && may_retry => may_retry = false,
            Err(None) => {
                let err = Error::new(Kind::BadGateway, "upstream closed without a response");
                return fail(e, client, out, o, err, client_keep).await;
            }
            Err(Some(err)) => return fail(e, client, out, o, err, client_keep).await,
        }
    };

    let rbody = match framing::response(req.is_head(), res) {
        Ok(b) => b,
        Err(err) => return fail(e, client, out, o, err, client_keep).await,
    };
    // HEAD and 304 keep their Content-Length: it describes the resource, not this message.
    let keep_length = rbody == Body::Empty && (req.is_head() || res.status == 304);
    let up_said = hop::strip(&mut res.headers, keep_length);
    let up_keep = rbody != Body::UntilClose
        && if res.minor == 0 {
            up_said.keep_alive
        } else {
            !up_said.close
        };
    e.chain.on_response(cx, res, e.chain.len());
    if cx.failed() {
        // Nothing was sent yet; the upstream connection, its body unread, is dropped.
        return fail(e, client, out, o, middleware_failed(), client_keep).await;
    }
    let (framing, out_kind, client_keep) = match rbody {
        Body::Empty => (Framing::None, Out::Raw, client_keep),
        Body::Length(n) => (Framing::Length(n), Out::Raw, client_keep),
        _ if req.minor == 1 => (Framing::Chunked, Out::Chunked, client_keep),
        _ => (Framing::None, Out::Raw, false), // HTTP/1.0: the end is our close
    };
    let client_keep = client_keep && !e.stop.is_fired();
    write::response_head(out, res, framing, connection_value(client_keep, req.minor));
    o.status = res.status;
    let opts = Copy {
        read_timeout: t.upstream_read,
        write_timeout: t.client_body,
        limit: 0,
        prefix: out,
    };
    match body::copy(&mut up, rbody, &mut client.io, out_kind, opts).await {
        Ok(n) => {
            o.bytes_out = n;
            if up_keep {
                e.pool.checkin(idx, up);
            }
            o.next = if client_keep {
                Next::KeepAlive
            } else {
                Next::Close
            };
        }
        Err(err) => {
            // The head may be out already: the only honest signal left is a close.
            o.error = Some(response_copy_error(err));
            o.next = Next::Close;
        }
    }
}

/// `Connection` value for a response: `close` when the connection ends, `keep-alive` for
/// an HTTP/1.0 client that asked for it.
fn connection_value(keep: bool, minor: u8) -> Option<&'static str> {
    match (keep, minor) {
        (false, _) => Some("close"),
        (true, 0) => Some("keep-alive"),
        (true, _) => None,
    }
}

/// Reads the final (non-1xx) response head. `Err(None)`: the upstream closed before
/// sending any byte; `Err(Some)`: timeout or a malformed head.
async fn read_final_head(
    e: &Engine,
    up: &mut UpstreamConn,
    res: &mut ResponseHead,
) -> Result<(), Option<Error>> {
    let mut first = true;
    loop {
        match rt::timeout(
            e.config.timeouts.upstream_read,
            parse::read_response(up, e.limits, res),
        )
        .await
        {
            None => {
                return Err(Some(Error::new(
                    Kind::GatewayTimeout,
                    "upstream response timed out",
                )))
            }
            Some(Err(ReadHead::Closed)) if first => return Err(None),
            Some(Err(ReadHead::Closed)) => {
                return Err(Some(Error::new(
                    Kind::BadGateway,
                    "upstream closed after 1xx",
                )))
            }
            Some(Err(ReadHead::Failed(err))) => return Err(Some(err)),
            Some(Ok(n)) => {
                up.consume(n);
                first = false;
                match res.status {
                    101 => {
                        return Err(Some(Error::new(
                            Kind::BadGateway,
                            "unexpected 101 from upstream",
                        )))
                    }
                    100..=199 => continue, // interim; weir answered Expect itself
                    _ => return Ok(()),
                }
            }
        }
    }
}

/// Sends a middleware's local reply back through the middleware in front of it.
#[allow(
    clippy::too_many_arguments,
    reason = "the exchange's parts, borrowed apart"
)]
async fn local_reply(
    e: &Engine,
    client: &mut Client,
    cx: &mut Ctx,
    res: &mut ResponseHead,
    out: &mut Vec<u8>,
    o: &mut Outcome,
    responder: usize,
    reply: Response,
    req: &RequestHead,
    keep: bool,
) {
    res.clear();
    res.status = reply.status;
    res.headers = reply.headers;
    hop::strip(&mut res.headers, false);
    e.chain.on_response(cx, res, responder);
    if cx.failed() {
        return fail(e, client, out, o, middleware_failed(), keep).await;
    }
    let keep = keep && !e.stop.is_fired();
    write::response_head(
        out,
        res,
        Framing::Length(reply.body.len() as u64),
        connection_value(keep, req.minor),
    );
    let body: &[u8] = if req.is_head() { b"" } else { &reply.body };
    let mut bufs = [std::io::IoSlice::new(out), std::io::IoSlice::new(body)];
    let sent = rt::timeout(
        e.config.timeouts.client_body,
        body::write_all_vectored(&mut client.io, &mut bufs),
    )
    .await;
    o.status = res.status;
    o.bytes_out = body.len() as u64;
    o.next = match sent {
        Some(Ok(())) if keep => Next::KeepAlive,
        Some(Ok(())) => Next::CloseAfterError,
        _ => Next::Close,
    };
}
