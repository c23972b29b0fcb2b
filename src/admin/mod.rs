//! The admin listener: Prometheus metrics, a live status page and a runtime API on an
//! address of its own.
//!
//! It is served by weir's own HTTP/1.1 session ([`Downstream`]): the same head parser,
//! limits and writer as proxied traffic, with no second HTTP stack. It never sees routes
//! or middleware, and it is bounded like the proxy: the config's head limits and
//! timeouts, and at most [`MAX_CONNECTIONS`] connections (admin traffic is a person and
//! a scraper, not load). Requests carry no body; one that has a body is refused.
//!
//! Who may ask what is [`guard`]'s. Two rules keep clients from locking the listener
//! out: a refused request (no token, a foreign `Host`, ...) closes its connection, and
//! at the cap the connection that has idled longest (between requests, or before its
//! first) is closed to seat a new one, as `limits.max_connections` does for the proxy
//! (see `admission`).

mod api;
mod dns;
mod guard;
mod page;
mod prom;
mod prom_h2;
mod prom_h2pool;
mod refusals;
mod reply;
mod requests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::admission::{Limit, Seat};
use crate::downstream::{Downstream, TextReply};
use crate::error::Kind;
use crate::http::parse::ReadHead;
use crate::http::RequestHead;
use crate::live::Live;
use crate::rt::{self, Runtime, TcpListener, TcpStream};

/// Admin connections open at once; past it the longest-idle one makes room.
pub const MAX_CONNECTIONS: usize = 64;

/// What every admin connection shares.
pub(crate) struct Admin {
    pub live: Arc<Live>,
    pub runtime: Runtime,
    pub refusals: refusals::Refusals,
}

/// Serves the admin listener until the future is dropped (weir shuts down); without
/// one it never resolves.
pub(crate) async fn serve(
    listener: Option<TcpListener>,
    live: Arc<Live>,
    runtime: Runtime,
) -> io::Result<()> {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    let admin = Arc::new(Admin {
        live,
        runtime: runtime.clone(),
        refusals: Default::default(),
    });
    let limit = Limit::named(MAX_CONNECTIONS, "the admin listener's connection cap");
    loop {
        let (stream, peer) = match rt::accept(&listener).await {
            Ok(pair) => pair,
            Err(_) => {
                rt::sleep(crate::fds::ACCEPT_PAUSE).await;
                continue;
            }
        };
        // At the cap this asks the longest-idle admin connection to make room.
        let seat = limit.admit().await;
        let admin = admin.clone();
        runtime
            .spawn(async move { connection(&admin, stream, peer, seat).await })
            .detach();
    }
}

/// Whether the client connection may carry another request after this one.
fn keep_alive(req: &RequestHead) -> bool {
    if req.protocol.is_http10() {
        req.headers.has_token("connection", "keep-alive")
    } else {
        !req.headers.has_token("connection", "close")
    }
}

/// Whether the request says it has a body (the admin API takes none).
fn has_body(req: &RequestHead) -> bool {
    req.headers.contains("transfer-encoding")
        || req
            .headers
            .get_str("content-length")
            .is_some_and(|v| v.trim() != "0")
}

/// One admin connection: requests one after another until close, idle timeout, or its
/// seat is wanted while it idles.
async fn connection(admin: &Admin, stream: TcpStream, peer: SocketAddr, mut seat: Seat) {
    let max = admin.live.get().limits.max_bytes;
    let mut client = Downstream::new(stream.into(), peer, max);
    let mut req = RequestHead::default();
    let mut first = true;
    loop {
        let e = admin.live.get();
        let t = e.config.timeouts;
        if client.buffered().is_empty() {
            let wait = if first { t.header } else { t.idle };
            let woke = {
                let waiting = std::pin::pin!(rt::timeout(wait, client.wait_for_request()));
                seat.idle(waiting).await
            };
            match woke {
                Some(Some(Ok(n))) if n > 0 => {}
                // Asked to make room, but a request is already on its way: read it.
                None if !client.is_quiet() => seat.pass_on(),
                None => return seat.give_up(),
                _ => return,
            }
        }
        first = false;
        let status = match rt::timeout(t.header, client.read_request(e.limits, &mut req)).await {
            Some(Ok(())) if has_body(&req) => 413,
            Some(Ok(())) => 0,
            Some(Err(ReadHead::Closed)) => return,
            Some(Err(ReadHead::Failed(err))) if err.kind == Kind::ClientGone => return,
            Some(Err(ReadHead::Failed(err))) => err.status(),
            None => 408,
        };
        if status != 0 {
            client
                .write_error(status, TextReply::closing(t.client_body))
                .await;
            client.linger().await;
            return;
        }
        let reply = requests::answer(admin, &e, &req, peer).await;
        // A refused client is closed at once, without the linger an error reply gets
        // above: lingering would keep its seat 2 s, and a crowd of refused clients is
        // what must not hold the seats.
        let keep = keep_alive(&req) && !e.stop.is_fired() && !reply.close;
        let body: &[u8] = if req.is_head() { b"" } else { &reply.body };
        let sent = client
            .write_local(&reply.head, reply.body.len(), body, keep, t.client_body)
            .await;
        if !sent || !keep {
            return;
        }
    }
}
