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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::framing;

    fn head(lines: &[(&str, &str)]) -> RequestHead {
        let mut req = RequestHead {
            method: "POST".into(),
            target: "/a".into(),
            protocol: crate::http::Protocol::Http11,
            ..Default::default()
        };
        for (name, value) in lines {
            req.headers.add(name, value).unwrap();
        }
        req
    }

    /// Runs `prepare` with HTTP/1 framing; returns the intent and what `open_body` was
    /// told about `Expect`.
    fn run(req: &mut RequestHead) -> (Result<Intent, Error>, Option<bool>) {
        let mut asked = None;
        let from = From {
            client: "192.0.2.1:5000".parse().unwrap(),
            https: false,
        };
        let open = |req: &RequestHead, expect| {
            asked = Some(expect);
            framing::request(req)
        };
        let intent = prepare(req, &Config::default(), from, &mut Vec::new(), open);
        (intent, asked)
    }

    #[test]
    fn framing_and_connection_options_come_from_the_head() {
        let mut req = head(&[
            ("Host", "a"),
            ("Content-Length", "5"),
            ("Connection", "close, X-Gone"),
            ("X-Gone", "1"),
        ]);
        let (intent, asked) = run(&mut req);
        let intent = intent.unwrap();
        assert_eq!(intent.body, Body::Length(5));
        assert!(intent.said.close && !intent.said.keep_alive);
        assert_eq!(asked, Some(false));
        assert!(!intent.websocket && !intent.head);
        // Hop-by-hop fields, and those `Connection` named, are gone; framing is weir's.
        for gone in ["connection", "x-gone", "content-length"] {
            assert!(!req.headers.contains(gone), "{gone}");
        }
        assert_eq!(req.original_target, "/a");
    }

    #[test]
    fn expect_continue_is_passed_to_the_session() {
        let mut req = head(&[("Host", "a"), ("Expect", "100-continue")]);
        assert_eq!(run(&mut req).1, Some(true));
    }

    #[test]
    fn a_bad_head_is_refused_before_its_body_is_opened() {
        let mut req = head(&[("Host", "a"), ("Expect", "something")]);
        let (intent, asked) = run(&mut req);
        assert_eq!(intent.unwrap_err().status(), 417);
        assert_eq!(asked, None);
        let mut req = head(&[("Host", "a"), ("Transfer-Encoding", "gzip, chunked")]);
        assert_eq!(run(&mut req).0.unwrap_err().status(), 501);
    }

    #[test]
    fn websocket_upgrades_keep_their_upgrade_fields() {
        let mut req = head(&[
            ("Host", "a"),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ]);
        req.method = "GET".into();
        let intent = run(&mut req).0.unwrap();
        assert!(intent.websocket);
        assert!(req.headers.has_token("connection", "upgrade"));
        assert!(req.headers.has_token("upgrade", "websocket"));
    }
}
