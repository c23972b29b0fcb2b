//! What a request head says about the exchange, decided once.
//!
//! One pass over the parsed head checks it (target form, Host, Expect), picks the body
//! framing (RFC 9112 §6), reads the client's keep-alive wish, spots a WebSocket
//! upgrade, strips hop-by-hop fields and adds `X-Forwarded-*`. Every later step reads
//! the resulting [`Intent`] instead of looking at the headers again.

use std::net::SocketAddr;

use crate::config::Config;
use crate::error::{Error, Kind};
use crate::http::framing::{self, Body};
use crate::http::{hop, RequestHead};
use crate::request;

/// What the client's request head says about the exchange.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Intent {
    /// How the request body is framed.
    pub body: Body,
    /// The client wants the connection kept after this exchange.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending its body.
    pub continue_100: bool,
    /// A WebSocket opening handshake weir will tunnel.
    pub websocket: bool,
    /// A HEAD request: the response has no body whatever its headers say.
    pub head: bool,
}

impl Intent {
    /// After an error reply the connection may continue only if no body is left unread.
    pub fn keep_after_error(&self) -> bool {
        self.keep_alive && self.body.is_empty()
    }
}

/// Checks and prepares `req` for the chain; an error is answered with its status and the
/// connection closed (the body, if any, was not read).
pub(crate) fn prepare(
    req: &mut RequestHead,
    config: &Config,
    client: SocketAddr,
    https: bool,
    scratch: &mut Vec<u8>,
) -> Result<Intent, Error> {
    req.original_target.clone_from(&req.target);
    let asks = request::check(req)?;
    let body = framing::request(req)?;
    let limit = config.limits.max_body_bytes;
    if matches!(body, Body::Length(n) if limit != 0 && n > limit) {
        return Err(Error::new(Kind::BodyTooLarge, "request body too large"));
    }
    let websocket = request::wants_websocket(req, body);
    let said = hop::strip(&mut req.headers, false);
    if websocket {
        let _ = req.headers.add("Connection", "Upgrade");
        let _ = req.headers.add("Upgrade", "websocket");
    }
    let keep_alive = if req.protocol.is_http10() {
        said.keep_alive
    } else {
        !said.close
    };
    request::add_forwarded(req, client, https, config.forwarded, scratch);
    if config.forwarded.request_id {
        crate::request_id::ensure(req);
    }
    Ok(Intent {
        body,
        keep_alive,
        continue_100: asks.continue_100 && !body.is_empty() && req.protocol.is_http11(),
        websocket,
        head: req.is_head(),
    })
}
