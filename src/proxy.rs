//! One exchange: a parsed request through the chain, to an upstream, and back.
//!
//! The steps follow DESIGN.md's "way of one request": checks and framing, hop-by-hop
//! stripping and `X-Forwarded-*`, `on_request`, `select_upstream`, pooled connect,
//! head + body upstream, response head, `on_response`, body back, `on_complete`.
//! Every path, error or not, ends in exactly one `on_complete`.

use std::io::{IoSlice, Write};
use std::net::SocketAddr;

use crate::config::Config;
use crate::error::{Error, Kind};
use crate::forward;
use crate::http::body::{self, Copy, CopyError, Out, ReadError};
use crate::http::conn::Conn;
use crate::http::framing::{self, Body};
use crate::http::parse::HeadLimits;
use crate::http::write::{self, Framing};
use crate::http::{hop, RequestHead, ResponseHead};
use crate::middleware::{Chain, Ctx, Response, Summary};
use crate::request;
use crate::rt::{self, TcpStream};
use crate::shutdown::{Signal, Trigger};
use crate::tunnel;
use crate::upstream;
use crate::upstream::pool::{Pool, UpstreamConn};
use crate::upstream::Upstreams;

/// Everything a connection task needs, shared by all of them.
pub(crate) struct Engine {
    pub config: Config,
    pub chain: Chain,
    pub upstreams: Upstreams,
    pub pool: Pool,
    pub limits: HeadLimits,
    /// Fires when weir shuts down.
    pub stop: Signal,
    /// Fires when a reload replaces this engine (stops its health checks).
    pub retire: Trigger,
    pub retired: Signal,
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

/// Writes a whole reply to the client within `timeouts.client_body`; false if it failed.
async fn send(e: &Engine, client: &mut Client, bufs: &mut [IoSlice<'_>]) -> bool {
    let write = body::write_all_vectored(&mut client.io, bufs);
    matches!(
        rt::timeout(e.config.timeouts.client_body, write).await,
        Some(Ok(()))
    )
}

/// What follows a reply weir wrote itself: keep-alive if allowed, else a close that
/// lingers (the client may still be sending a body we did not read).
fn after_reply(sent: bool, keep: bool) -> Next {
    match (sent, keep) {
        (true, true) => Next::KeepAlive,
        (true, false) => Next::CloseAfterError,
        (false, _) => Next::Close,
    }
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
    let sent = send(e, client, &mut [IoSlice::new(out)]).await;
    o.status = status;
    o.bytes_out = body.len() as u64;
    o.error = Some(err);
    o.next = after_reply(sent, keep);
}

/// The error for a request a middleware failed with [`Ctx::fail`].
fn middleware_failed() -> Error {
    Error::new(Kind::Internal, "a middleware failed the request")
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
    let websocket = request::wants_websocket(req, body);
    let said = hop::strip(&mut req.headers, false);
    if websocket {
        let _ = req.headers.add("Connection", "Upgrade");
        let _ = req.headers.add("Upgrade", "websocket");
    }
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
    let idempotent = matches!(
        req.method.as_str(),
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    );
    let retries = e
        .config
        .retries
        .unwrap_or(e.upstreams.len().saturating_sub(1));
    let host_from_upstream = !req.headers.contains("host");
    let mut continue_100 = asks.continue_100 && !body.is_empty() && req.minor == 1;
    let mut tries = 0;
    // The in-flight guard covers the whole exchange, body included (least-conn, p2c).
    let (mut up, idx, _in_flight) = loop {
        let picked = e.chain.select_upstream(cx, req, &e.upstreams);
        if cx.failed() {
            return fail(e, client, out, o, middleware_failed(), keep_on_error).await;
        }
        let Some(idx) = picked else {
            let err = Error::new(Kind::NoUpstream, "no upstream selected");
            return fail(e, client, out, o, err, keep_on_error).await;
        };
        cx.upstream = Some(idx);
        upstream::mark_tried(&mut cx.tried, idx);
        let addr = e.upstreams[idx].addr;
        o.upstream = Some(addr);
        if host_from_upstream {
            tmp.clear();
            let _ = write!(tmp, "{addr}");
            let _ = req.headers.set("Host", &tmp[..]);
        }
        write::request_head(out, req, body.into());
        let state = e.upstreams.state(idx);
        let in_flight = state.start();
        let mut attempt = forward::Request {
            head: out,
            body,
            continue_100,
            relay_1xx: req.minor >= 1,
            websocket,
        };
        let result = forward::attempt(e, client, idx, &mut attempt, res).await;
        continue_100 = attempt.continue_100;
        match result {
            Ok((up, sent)) => {
                o.bytes_in = sent;
                let failed = res.status >= 500 && e.config.passive.fail_on_5xx;
                if failed {
                    mark_failed(e, idx);
                } else {
                    state.succeed();
                }
                break (up, idx, in_flight);
            }
            Err(f) => {
                if f.upstream_fault {
                    mark_failed(e, idx);
                }
                let replay_ok = !f.sent || (idempotent && body.is_empty());
                if f.upstream_fault && f.retryable && replay_ok && tries < retries {
                    tries += 1;
                    cx.retried = Some((addr, f.cause));
                    continue;
                }
                let keep = client_keep && f.client_clean;
                return fail(e, client, out, o, f.err, keep).await;
            }
        }
    };

    if e.config.debug_headers {
        tmp.clear();
        if let Some(reason) = &cx.reason {
            let _ = write!(tmp, "{reason}");
        }
        if let Some((addr, cause)) = cx.retried {
            let _ = write!(tmp, "; retry after {cause} from {addr}");
        }
        let _ = res
            .headers
            .set("X-Weir-Upstream", e.upstreams[idx].addr.to_string());
        let _ = res.headers.set("X-Weir-Reason", &tmp[..]);
    }
    if res.status == 101 {
        return upgrade(e, client, cx, res, out, o, up).await;
    }
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
    // Sent with the rest of this turn's writes, after the requests going upstream
    // (see `rt::end_of_batch`).
    rt::end_of_batch(u64::MAX).await;
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

/// Records a failure against server `idx`; says so once when it leaves rotation.
fn mark_failed(e: &Engine, idx: usize) {
    let p = e.config.passive;
    if e.upstreams.state(idx).fail(std::time::Instant::now(), p) {
        eprintln!(
            "weir: upstream {} is down for {} after {} failure(s)",
            e.upstreams[idx].addr,
            crate::config::duration::show(p.fail_timeout),
            p.max_fails.max(1)
        );
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

/// Completes a WebSocket upgrade: the origin must have answered 101 with
/// `Upgrade: websocket` and a `Sec-WebSocket-Accept`, else 502. Then bytes flow both
/// ways until one side closes or the tunnel idles out.
async fn upgrade(
    e: &Engine,
    client: &mut Client,
    cx: &mut Ctx,
    res: &mut ResponseHead,
    out: &mut Vec<u8>,
    o: &mut Outcome,
    mut up: UpstreamConn,
) {
    if !res.headers.contains("sec-websocket-accept")
        || !res.headers.has_token("upgrade", "websocket")
    {
        let err = Error::new(Kind::BadGateway, "101 without a WebSocket handshake");
        return fail(e, client, out, o, err, false).await;
    }
    hop::strip(&mut res.headers, false);
    let _ = res.headers.add("Connection", "Upgrade");
    let _ = res.headers.add("Upgrade", "websocket");
    e.chain.on_response(cx, res, e.chain.len());
    write::response_head(out, res, Framing::None, None);
    o.status = 101;
    o.next = Next::Close;
    if send(e, client, &mut [IoSlice::new(out)]).await {
        o.bytes_out = tunnel::run(client, &mut up, e.config.timeouts.tunnel).await;
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
    let mut bufs = [IoSlice::new(out), IoSlice::new(body)];
    let sent = send(e, client, &mut bufs).await;
    o.status = res.status;
    o.bytes_out = body.len() as u64;
    o.next = after_reply(sent, keep);
}
