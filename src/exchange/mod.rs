//! One exchange: a parsed request through the chain, to an upstream, and back.
//!
//! [`Exchange::run`] is the request's way from DESIGN.md, one call per phase:
//!
//! ```text
//! prepare (what the head says; the path normalised) → chain.on_request → route →
//! route chain.on_request → upstream target (strip_prefix) → select + forward, retrying
//! by typed cause → chain.on_response → body back (or the upgrade tunnel)
//! ```
//!
//! A phase that cannot go on returns an [`End`] (an error, or a middleware's local
//! reply), and [`Exchange::end`] answers it: the one error path. Whatever happened,
//! the exchange then runs `on_complete` exactly once. Every byte for the client goes
//! through the [`Downstream`]; the exchange decides what to answer, never how it is
//! spelled on the wire.

mod attempt;
pub(crate) mod cause;
mod forward;
mod path;
mod prepare;
mod reply;
mod respond;
mod route;

use std::net::SocketAddr;

use crate::downstream::Downstream;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{RequestHead, ResponseHead};
use crate::middleware::{Chain, Ctx, Response, Summary};

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
}

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
    /// From the start of the attempt that answered to its response head.
    upstream_time: Option<std::time::Duration>,
    error: Option<Error>,
    next: Next,
}

/// Why a phase stopped the exchange early.
pub(crate) enum End {
    /// Answer with the error's status; keep the connection only if `keep`.
    Error { err: Error, keep: bool },
    /// Middleware `responder` of the `stage` chain answered locally.
    Local {
        stage: Stage,
        responder: usize,
        reply: Response,
        keep: bool,
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
    fn error(err: Error, keep: bool) -> Self {
        End::Error { err, keep }
    }
}

/// One request on one client connection, from its parsed head to `on_complete`.
struct Exchange<'a> {
    e: &'a Engine,
    client: &'a mut Downstream,
    cx: Ctx,
    req: &'a mut RequestHead,
    res: &'a mut ResponseHead,
    bytes: &'a mut Vec<u8>,
    path: &'a mut Vec<u8>,
    /// The matched route's chain, once routed: its middleware have seen the request.
    route_chain: Option<&'a Chain>,
    o: Outcome,
}

/// Runs one request whose head was just read into `s.req`.
pub(crate) async fn exchange(e: &Engine, client: &mut Downstream, s: &mut Scratch) -> Next {
    let mut x = Exchange::new(e, client, s);
    if let Err(end) = x.run().await {
        x.end(end).await;
    }
    x.complete()
}

/// Answers a request that could not be read (bad or slow head) and logs it.
pub(crate) async fn reject(e: &Engine, client: &mut Downstream, s: &mut Scratch, err: Error) {
    s.req.clear();
    let mut x = Exchange::new(e, client, s);
    // The log shows what was received, since no request head could be parsed from it.
    x.cx = Ctx::rejected(x.client.peer, x.client.buffered());
    x.end(End::error(err, false)).await;
    x.complete();
}

impl<'a> Exchange<'a> {
    fn new(e: &'a Engine, client: &'a mut Downstream, s: &'a mut Scratch) -> Self {
        Exchange {
            e,
            cx: Ctx::new(client.peer),
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
                next: Next::Close,
            },
        }
    }

    /// The request's way, one phase per line.
    async fn run(&mut self) -> Result<(), End> {
        let intent = self.prepare()?;
        self.on_request(&intent)?;
        let group = self.route(&intent)?;
        self.route_on_request(&intent)?;
        self.upstream_target(&intent)?;
        let picked = self.forward(&intent, group).await?;
        self.add_debug_headers(&picked);
        self.return_request_id();
        if self.res.status == 101 {
            return self.upgrade(picked).await;
        }
        let said = self.on_response(&intent)?;
        self.body_back(&intent, said, picked).await;
        Ok(())
    }

    /// Decides what the head says (see [`prepare`]) and brings the path to the normal
    /// form every rule reads (see [`path`]); a bad head ends the exchange.
    fn prepare(&mut self) -> Result<Intent, End> {
        let https = self.client.is_tls();
        let intent = prepare::prepare(self.req, &self.e.config, self.cx.client, https, self.bytes)
            .map_err(|err| End::error(err, false))?;
        self.path.clear();
        self.normalize_target(&intent)?;
        Ok(intent)
    }

    /// The global chain's `on_request`, front to back; any middleware may answer
    /// locally.
    fn on_request(&mut self, intent: &Intent) -> Result<(), End> {
        self.run_on_request(intent, Stage::Global)
    }

    /// The route's own chain's `on_request`, after the global chain's.
    fn route_on_request(&mut self, intent: &Intent) -> Result<(), End> {
        self.run_on_request(intent, Stage::Route)
    }

    fn run_on_request(&mut self, intent: &Intent, stage: Stage) -> Result<(), End> {
        let keep = intent.keep_after_error();
        let Some(chain) = self.chain(stage) else {
            return Ok(());
        };
        let replied = chain.on_request(&mut self.cx, self.req);
        if self.cx.failed() {
            return Err(End::error(reply::middleware_failed(), keep));
        }
        replied.map_err(|(responder, reply)| End::Local {
            stage,
            responder,
            reply,
            keep,
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
    fn run_on_response(&mut self, from: Option<(Stage, usize)>) {
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

    /// Runs `on_complete` for every middleware and says what follows on the connection.
    fn complete(self) -> Next {
        let o = &self.o;
        let routes = &self.e.routes;
        let route = self.cx.route.map(|i| &routes.list[i]);
        let duration = self.cx.started.elapsed();
        if self.e.stats.on && o.status != 0 {
            let refused = o.status / 100 == 4 && o.error.is_some();
            self.e
                .stats
                .request(self.cx.route, o.status, duration, refused);
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
        };
        self.e.chain.on_complete(&self.cx, &summary);
        if let Some(chain) = self.route_chain {
            chain.on_complete(&self.cx, &summary);
        }
        o.next
    }
}
