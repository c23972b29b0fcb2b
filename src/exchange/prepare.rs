//! What a request head says about the exchange, decided once.
//!
//! One pass over the parsed head checks it (target form, Host, Expect), has the
//! session decide the body framing (RFC 9112 §6 for HTTP/1, so a function given by the
//! caller), reads what the client said about its connection, spots a WebSocket
//! upgrade, strips hop-by-hop fields and adds `X-Forwarded-*`. Every later step reads
//! the resulting [`Intent`] instead of looking at the headers again.

use std::net::SocketAddr;

use crate::config::Config;
use crate::error::Error;
use crate::http::framing::Body;
use crate::http::hop::{self, ConnectionOptions};
use crate::http::RequestHead;
use crate::request;

/// What the client's request head says about the exchange.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Intent {
    /// How the request body is framed.
    pub body: Body,
    /// What the client's `Connection` field said, for its session's keep-alive
    /// decision.
    pub said: ConnectionOptions,
    /// A WebSocket opening handshake weir will tunnel.
    pub websocket: bool,
    /// A HEAD request: the response has no body whatever its headers say.
    pub head: bool,
}

/// Where a request comes from: its client's address and whether it came over TLS.
#[derive(Clone, Copy)]
pub(crate) struct From {
    pub client: SocketAddr,
    pub https: bool,
}

/// Checks and prepares `req` for the chain; an error is answered with its status and the
/// connection closed (the body, if any, was not read). `open_body(req, expect_continue)`
/// is the session's: it decides the body's framing (see `Session::open_body`).
pub(crate) fn prepare(
    req: &mut RequestHead,
    config: &Config,
    from: From,
    scratch: &mut Vec<u8>,
    open_body: impl FnOnce(&RequestHead, bool) -> Result<Body, Error>,
) -> Result<Intent, Error> {
    req.original_target.clone_from(&req.target);
    let asks = request::check(req)?;
    let body = open_body(req, asks.continue_100)?;
    let websocket = request::wants_websocket(req, body);
    let said = hop::strip(&mut req.headers, false);
    if websocket {
        let _ = req.headers.add("Connection", "Upgrade");
        let _ = req.headers.add("Upgrade", "websocket");
    }
    request::add_forwarded(req, from.client, from.https, config.forwarded, scratch);
    if config.forwarded.request_id {
        crate::request_id::ensure(req);
    }
    Ok(Intent {
        body,
        said,
        websocket,
        head: req.is_head(),
    })
}
