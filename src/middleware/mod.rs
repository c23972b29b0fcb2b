//! The middleware chain: every request's way through weir.
//!
//! A chain is an ordered list of [`Middleware`], built once at start-up from config
//! order. Requests run front to back, responses back to front, and `on_complete` runs
//! exactly once per request, whatever happened: a local reply, an upstream error, a
//! client that went away. Hooks see **heads only**; bodies stream through the core and
//! never sit whole in memory. Hooks are synchronous and must not block: all I/O,
//! timeouts and retries belong to the core.
//!
//! ```text
//!            on_request            select_upstream          on_response
//! client ──► m0 ──► m1 ──► m2 ──► (first Some wins) ──► ... ──► m2 ──► m1 ──► m0 ──► client
//!                                                             on_complete: m0, m1, m2
//! ```

pub mod balance;
pub mod build;
mod chain;
pub mod hash_key;
pub mod headers;
mod hooks;
pub mod log;

pub use chain::Chain;
pub use hooks::Hooks;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::balance::Reason;
use crate::error::Error;
use crate::http::{Headers, RequestHead, ResponseHead};
use crate::upstream::Upstreams;

/// Per-request facts every hook can read.
#[derive(Debug)]
pub struct Ctx {
    /// The client's address.
    pub client: SocketAddr,
    /// When the request head was complete.
    pub started: Instant,
    /// The index of the upstream group the request's route sends it to (0 when there
    /// is one group); the index [`Chain::select_upstream`]'s servers come from.
    pub group: usize,
    /// The index of the matched route (file order), once routed.
    pub route: Option<usize>,
    /// The upstream index chosen for this request (within its group), once chosen.
    pub upstream: Option<usize>,
    /// Why the balancer chose it (for the access log and debug headers).
    pub reason: Option<Reason>,
    /// Upstream indices already tried for this request (bit set; retries skip them).
    pub tried: u64,
    /// The last failed try before this one: server and cause (`refused`, `timeout`, ...).
    pub retried: Option<(SocketAddr, &'static str)>,
    /// The client's request line as received, sanitised, when its head could not be
    /// parsed (see [`Ctx::rejected`]); `None` for every request that parsed.
    pub received: Option<String>,
    /// Set by [`Ctx::fail`]: the request ends with 500 after the current hook.
    failed: bool,
    /// Per-request state of plugin instances; empty (no allocation) unless a plugin
    /// asks for it.
    pub(crate) plugins: crate::plugin::RequestStates,
}

impl Ctx {
    /// The context of a request from `client` whose head just completed.
    pub fn new(client: SocketAddr) -> Self {
        Ctx {
            client,
            started: Instant::now(),
            group: 0,
            route: None,
            upstream: None,
            reason: None,
            tried: 0,
            retried: None,
            received: None,
            failed: false,
            plugins: Default::default(),
        }
    }

    /// The context of a request whose head could not be parsed; `buffered` is what the
    /// client sent, so the access log can show its request line instead of `-`.
    pub fn rejected(client: SocketAddr, buffered: &[u8]) -> Self {
        let line = crate::http::parse::received_line(buffered);
        Ctx {
            received: (!line.is_empty()).then_some(line),
            ..Ctx::new(client)
        }
    }

    /// Fails this request: the rest of the current phase is skipped and weir answers
    /// 500 (unless the response head is already on its way). For a middleware whose
    /// own machinery broke, such as a plugin that returned `WEIR_FAIL` or panicked.
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// Whether [`Ctx::fail`] was called.
    pub fn failed(&self) -> bool {
        self.failed
    }
}

/// What `on_request` decides.
pub enum Flow {
    /// Pass the request on to the next middleware.
    Continue,
    /// Answer the client locally; the upstream is never contacted.
    Respond(Response),
}

/// A response made by middleware (or by weir for an error).
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        let mut r = Response::new(status);
        r.body = body.into();
        let _ = r.headers.set("Content-Type", "text/plain; charset=utf-8");
        r
    }

    /// Adds a header; values with CR, LF or NUL (and bad names) are dropped, never sent.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let _ = self.headers.add(name, value);
        self
    }
}

/// What happened to one request, for `on_complete` (access logs, metrics).
#[derive(Debug)]
pub struct Summary<'a> {
    /// The request as forwarded (after middleware rewrites); empty if it never parsed.
    pub request: &'a RequestHead,
    /// The status sent to the client; 0 if none could be sent.
    pub status: u16,
    /// The upstream the request went to, if any.
    pub upstream: Option<SocketAddr>,
    /// Request body bytes received from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// From a complete request head to the end of the response.
    pub duration: Duration,
    /// From the start of the upstream attempt that answered to its response head;
    /// `None` when no upstream answered.
    pub upstream_time: Option<Duration>,
    /// The error that ended the request early, if one did.
    pub error: Option<&'a Error>,
    /// The matched route's name (`default` without `[[routes]]`); `-` before routing.
    pub route: &'a str,
    /// The upstream group's name (`default` for `[upstream]`); `-` before routing.
    pub upstream_group: &'a str,
    /// A gRPC call's status: `grpc-status` from the response's trailers (or its
    /// trailers-only head), or the one weir answered with; `None` for other requests
    /// (and for trailers an HTTP/1.1 client was not sent).
    pub grpc_status: Option<u8>,
}

/// A step in the chain. Every hook has a no-op default, so a middleware implements only
/// the phases it cares about.
pub trait Middleware: Send + Sync {
    /// A short name for logs and `weir check`.
    fn name(&self) -> &str;

    /// The hooks this middleware implements; the chain, built once, calls only those
    /// (see [`Hooks`]). The default is all of them, always right: say less only to
    /// spare each request the calls to hooks left at their no-op default.
    fn hooks(&self) -> Hooks {
        Hooks::ALL
    }

    /// Runs front to back once the request head is parsed and hop-by-hop headers are
    /// gone. May rewrite the head. [`Flow::Respond`] answers locally: later middleware
    /// and the upstream are skipped, and the reply passes back through the
    /// `on_response` of the middleware in front of this one.
    fn on_request(&self, _cx: &mut Ctx, _req: &mut RequestHead) -> Flow {
        Flow::Continue
    }

    /// Picks an upstream by index into `upstreams`. The first middleware (front to back)
    /// that returns `Some` decides; `None` passes. If none decides, weir answers 503.
    fn select_upstream(
        &self,
        _cx: &mut Ctx,
        _req: &RequestHead,
        _upstreams: &Upstreams,
    ) -> Option<usize> {
        None
    }

    /// Runs back to front on the response head before it is written to the client,
    /// for upstream responses and local replies alike (not for weir's own error replies).
    fn on_response(&self, _cx: &mut Ctx, _res: &mut ResponseHead) {}

    /// Runs exactly once per request, front to back, after the last byte was sent or the
    /// request failed. Must not block.
    fn on_complete(&self, _cx: &Ctx, _summary: &Summary<'_>) {}
}
