//! The admin listener: Prometheus metrics, a live status page and a runtime API on an
//! address of its own.
//!
//! It is served by weir's own HTTP/1.1 session ([`Downstream`]): the same head parser,
//! limits and writer as proxied traffic, with no second HTTP stack. It never sees routes
//! or middleware, and it is bounded like the proxy: the config's head limits and
//! timeouts, and at most [`MAX_CONNECTIONS`] connections (admin traffic is a person and
//! a scraper, not load). Requests carry no body; one that has a body is refused.

mod api;
mod page;
mod reply;
mod requests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::downstream::{Downstream, TextReply};
use crate::error::Kind;
use crate::http::parse::ReadHead;
use crate::http::RequestHead;
use crate::live::Live;
use crate::rt::{self, Runtime, TcpListener, TcpStream};

/// Admin connections open at once; the accept loop waits past it.
pub const MAX_CONNECTIONS: usize = 64;

/// What every admin connection shares.
pub(crate) struct Admin {
    pub live: Arc<Live>,
    pub runtime: Runtime,
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
    });
    let permits = Arc::new(rt::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = permits.acquire_arc().await;
        let (stream, peer) = match rt::accept(&listener).await {
            Ok(pair) => pair,
            Err(_) => {
                rt::sleep(crate::fds::ACCEPT_PAUSE).await;
                continue;
            }
        };
        let admin = admin.clone();
        runtime
            .spawn(async move {
                connection(&admin, stream, peer).await;
                drop(permit);
            })
            .detach();
    }
}

/// Whether the client connection may carry another request after this one.
fn keep_alive(req: &RequestHead) -> bool {
    if req.minor == 0 {
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

/// One admin connection: requests one after another until close or idle timeout.
async fn connection(admin: &Admin, stream: TcpStream, peer: SocketAddr) {
    let max = admin.live.get().limits.max_bytes;
    let mut client = Downstream::new(stream.into(), peer, max);
    let mut req = RequestHead::default();
    let mut first = true;
    loop {
        let e = admin.live.get();
        let t = e.config.timeouts;
        if client.buffered().is_empty() {
            let wait = if first { t.header } else { t.idle };
            match rt::timeout(wait, client.wait_for_request()).await {
                Some(Ok(n)) if n > 0 => {}
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
        let keep = keep_alive(&req) && !e.stop.is_fired();
        let reply = requests::answer(admin, &e, &req, peer).await;
        let body: &[u8] = if req.is_head() { b"" } else { &reply.body };
        let sent = client
            .write_local(&reply.head, reply.body.len(), body, keep, t.client_body)
            .await;
        if !sent || !keep {
            return;
        }
    }
}
