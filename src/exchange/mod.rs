//! One exchange: a parsed request through the chain, to an upstream, and back.
//!
//! [`Exchange::run`] is the request's way from DESIGN.md, one call per phase:
//!
//! ```text
//! prepare (what the head says; the path normalised) → chain.on_request → route →
//! route chain.on_request → upstream target (strip_prefix) → select + forward, retrying
//! by typed cause (within a gRPC call's deadline) → chain.on_response → body back (or
//! the upgrade tunnel)
//! ```
//!
//! A phase that cannot go on returns an [`End`] (an error, or a middleware's local
//! reply), and [`Exchange::end`] answers it: the one error path. Whatever happened,
//! the exchange then runs `on_complete` exactly once.
//!
//! The exchange moves heads and bodies between two sides and sees no bytes on the
//! wire: the client's [`Session`] (framing, `100 Continue`, interim and local replies,
//! the response, and whether the connection carries another request) and the
//! upstream's [`Peer`](crate::upstream::peer::Peer) (connect, TLS, pool, the request's
//! serialisation, response heads and body). It is generic over the session, so each
//! protocol's session gets its own static copy of it (see `downstream::session`).

mod attempt;
pub(crate) mod cause;
mod deadline;
mod forward;
mod grpc;
pub(crate) mod kept;
mod path;
mod prepare;
mod reply;
mod respond;
mod route;

use std::future::Future;
use std::net::SocketAddr;

use futures_lite::FutureExt;

use crate::downstream::{PerRequest, Session};
use crate::engine::Engine;
use crate::error::{Error, Kind};
use crate::http::{RequestHead, ResponseHead};
use crate::middleware::{Chain, Ctx, Hooks, Response, Summary};

pub(crate) use prepare::Intent;

/// Per-connection buffers, reused by every request on the connection.
#[derive(Default)]
pub(crate) struct Scratch {
    pub req: RequestHead,
    pub res: ResponseHead,
    /// One short-lived byte string at a time: a header value being built, then the
    /// head serialised for the upstream.
    bytes: Vec<u8>,
    /// The request path in normal form, as the rules see it (see [`path`]).
    path: Vec<u8>,
    /// An HTTP/1.x session's request state (its reply buffer, its body's decoding),
    /// parked here while its connection idles (see [`kept`]).
    pub h1: Option<Box<PerRequest>>,
}

/// What happened, for `on_complete` and the connection loop.
struct Outcome {
    status: u16,
    upstream: Option<SocketAddr>,
    bytes_in: u64,
    bytes_out: u64,
    /// From the start of the attempt that answered to its response head.
    upstream_time: Option<std::time::Duration>,
    error: Option<Error>,
    /// A gRPC call's status, as the client got it.
    grpc_status: Option<u8>,
}

/// Why a phase stopped the exchange early.
pub(crate) enum End {
    /// Answer with the error's status.
    Error(Error),
    /// Middleware `responder` of the `stage` chain answered locally.
    Local {
        stage: Stage,
        responder: usize,
        reply: Response,
    },
}

/// Which chain a middleware is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The global chain, before routing.
    Global,
    /// The matched route's own chain, after the global one.
    Route,
}

impl End {
    fn error(err: Error) -> Self {
        End::Error(err)
    }
}

/// One request on one client connection, from its parsed head to `on_complete`.
struct Exchange<'a, S> {
    e: &'a Engine,
    client: &'a mut S,
    cx: Ctx,
    req: &'a mut RequestHead,
    res: &'a mut ResponseHead,
    bytes: &'a mut Vec<u8>,
    path: &'a mut Vec<u8>,
    /// The matched route's chain, once routed: its middleware have seen the request.
    route_chain: Option<&'a Chain>,
    o: Outcome,
}

/// Runs one request whose head was just read into `s.req`; the session then knows what
/// follows on its connection (`Session::next`).
///
/// [`exchange_until`] without its `gone`, which an HTTP/1.x request has none of: racing
/// the exchange against a future that never ends built the race in place and moved the
/// exchange into it, a 408-byte copy per request (bench/profiling.md, "Small keep-alive
/// requests, round seven").
pub(crate) async fn exchange<S: Session>(e: &Engine, client: &mut S, s: &mut Scratch) {
    let mut x = Exchange::new(e, client, s);
    if let Err(end) = x.run().await {
        x.end(end).await;
    }
    x.complete();
}

/// [`exchange`], stopped where it stands if `gone` resolves first: the client gave up
/// on the request (an HTTP/2 stream reset). The request's upstream connection, if it
/// has one, is dropped with the phase that held it, and the request completes (logged)
/// as the client gone.
pub(crate) async fn exchange_until<S: Session>(
    e: &Engine,
    client: &mut S,
    s: &mut Scratch,
    gone: impl Future<Output = ()>,
) {
    let mut x = Exchange::new(e, client, s);
    let gone = async {
        gone.await;
        let why = "the client cancelled the request (stream reset)";
        Err(End::error(Error::new(Kind::ClientGone, why)))
    };
    if let Err(end) = x.run().or(gone).await {
        x.end(end).await;
    }
    x.complete();
}

/// Answers a request that could not be read (bad or slow head) and logs it.
pub(crate) async fn reject<S: Session>(e: &Engine, client: &mut S, s: &mut Scratch, err: Error) {
    s.req.clear();
    let mut x = Exchange::new(e, client, s);
    // The log shows what was received, since no request head could be parsed from it.
    x.cx = Ctx::rejected(x.client.peer(), x.client.received());
    x.end(End::error(err)).await;
    x.complete();
}

impl<'a, S: Session> Exchange<'a, S> {
    fn new(e: &'a Engine, client: &'a mut S, s: &'a mut Scratch) -> Self {
        Exchange {
            e,
            cx: Ctx::new(client.peer()),
            client,
            req: &mut s.req,
            res: &mut s.res,
            bytes: &mut s.bytes,
            path: &mut s.path,
            route_chain: None,
            o: Outcome {
                status: 0,
                upstream: None,
                bytes_in: 0,
                bytes_out: 0,
                upstream_time: None,
                error: None,
                grpc_status: None,
            },
        }
    }

    /// The request's way, one phase per line.
    async fn run(&mut self) -> Result<(), End> {
        let intent = self.prepare()?;
        self.on_request()?;
        let group = self.route()?;
        self.route_on_request()?;
        self.upstream_target()?;
        // A gRPC call's own deadline bounds the rest (see [`deadline`]).
        let until = deadline::of(self.req, self.cx.started);
        // The upstream side, made here by the attempt that answers and lent from here
        // on (see `attempt::open`); dropped with the exchange if it ends early.
        let mut peer = None;
        let picked = {
            // Pinned here and lent: `within` holds a reference, not a second and
            // third copy of the forward phase's future (15,040 → 6,520 bytes per
            // HTTP/2 stream task in a debug build, each byte copied when the task is boxed).
            let forward = std::pin::pin!(self.forward(&intent, group, &mut peer));
            deadline::within(until, forward).await?
        };
        self.add_debug_headers(&picked);
        self.return_request_id();
        if self.res.status == 101 {
            return self.upgrade(picked).await;
        }
        let said = self.on_response(&intent)?;
        self.body_back(said, picked, until).await;
        Ok(())
    }

    /// Decides what the head says (see [`prepare`]) and brings the path to the normal
    /// form every rule reads (see [`path`]); a bad head ends the exchange.
    fn prepare(&mut self) -> Result<Intent, End> {
        let from = prepare::From {
            client: self.cx.client,
            https: self.client.is_tls(),
        };
        let limit = self.e.config.limits.max_body_bytes;
        let client = &mut *self.client;
        let open_body = |req: &_, expect| client.open_body(req, limit, expect);
        let intent = prepare::prepare(self.req, &self.e.config, from, self.bytes, open_body)
            .map_err(End::error)?;
        self.client.client_said(intent.said);
        self.path.clear();
        self.normalize_target()?;
        Ok(intent)
    }

    /// The global chain's `on_request`, front to back; any middleware may answer
    /// locally.
    fn on_request(&mut self) -> Result<(), End> {
        self.run_on_request(Stage::Global)
    }

    /// The route's own chain's `on_request`, after the global chain's.
    fn route_on_request(&mut self) -> Result<(), End> {
        self.run_on_request(Stage::Route)
    }

    /// Inlined, so a chain with no `on_request` at all (the default config's) costs a
    /// test here, not a call that builds a `Result`.
    #[inline]
    fn run_on_request(&mut self, stage: Stage) -> Result<(), End> {
        match self.chain(stage) {
            Some(chain) if chain.has(Hooks::ON_REQUEST) => self.walk_on_request(chain, stage),
            _ => Ok(()),
        }
    }

    fn walk_on_request(&mut self, chain: &Chain, stage: Stage) -> Result<(), End> {
        let replied = chain.on_request(&mut self.cx, self.req);
        if self.cx.failed() {
            return Err(End::error(reply::middleware_failed()));
        }
        replied.map_err(|(responder, reply)| End::Local {
            stage,
            responder,
            reply,
        })
    }

    /// The chain of `stage`: the route's exists once the request is routed.
    fn chain(&self, stage: Stage) -> Option<&'a Chain> {
        match stage {
            Stage::Global => Some(&self.e.chain),
            Stage::Route => self.route_chain,
        }
    }

    /// `on_response` back to front: the route's chain, then the global chain, stopping
    /// when a middleware fails the request. `from` is where a local reply came from.
    /// Inlined for its test: most configs have no `on_response` at all.
    #[inline]
    fn run_on_response(&mut self, from: Option<(Stage, usize)>) {
        let route = self.route_chain.is_some_and(|c| c.has(Hooks::ON_RESPONSE));
        if route || self.e.chain.has(Hooks::ON_RESPONSE) {
            self.walk_on_response(from);
        }
    }

    fn walk_on_response(&mut self, from: Option<(Stage, usize)>) {
        let res = &mut *self.res;
        let global = &self.e.chain;
        match from {
            Some((Stage::Global, responder)) => {
                return global.on_response(&mut self.cx, res, responder);
            }
            Some((Stage::Route, responder)) => {
                if let Some(route) = self.route_chain {
                    route.on_response(&mut self.cx, res, responder);
                }
            }
            None => {
                if let Some(route) = self.route_chain {
                    route.on_response(&mut self.cx, res, route.len());
                }
            }
        }
        if !self.cx.failed() {
            global.on_response(&mut self.cx, res, global.len());
        }
    }

    /// Returns the request's id to the client (see `request_id`), when ids are on.
    fn return_request_id(&mut self) {
        if !self.e.config.forwarded.request_id {
            return;
        }
        if let Some(id) = self.req.headers.get("x-request-id") {
            let _ = self.res.headers.set(crate::request_id::HEADER, id);
        }
    }

    /// Runs `on_complete` for every middleware. By reference: the exchange (408 bytes)
    /// taken by value was a copy per request.
    fn complete(&self) {
        let o = &self.o;
        let routes = &self.e.routes;
        let route = self.cx.route.map(|i| &routes.list[i]);
        let duration = self.cx.started.elapsed();
        if self.e.stats.on && o.status != 0 {
            let refused = o.status / 100 == 4 && o.error.is_some();
            self.e
                .stats
                .request(self.cx.route, o.status, duration, refused);
            if let Some(code) = o.grpc_status {
                self.e.stats.metrics.grpc_call(code);
            }
        }
        let summary = Summary {
            request: self.req,
            status: o.status,
            upstream: o.upstream,
            bytes_in: o.bytes_in,
            bytes_out: o.bytes_out,
            duration,
            upstream_time: o.upstream_time,
            error: o.error.as_ref(),
            route: route.map_or("-", |r| &r.name),
            upstream_group: route.map_or("-", |r| self.e.groups[r.group].name()),
            grpc_status: o.grpc_status,
        };
        self.e.chain.on_complete(&self.cx, &summary);
        if let Some(chain) = self.route_chain {
            chain.on_complete(&self.cx, &summary);
        }
    }
}
