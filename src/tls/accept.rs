//! The server side of a TLS handshake on an accepted connection.
//!
//! Before any TLS state exists, weir waits for the client's first bytes with no buffer
//! and peeks at them: a client that connects and says nothing costs what a plain idle
//! connection does. A TLS record starts with `0x16`; an HTTP method is a plain HTTP
//! client at the wrong port, answered with a plain-text `400` saying so (as nginx does);
//! anything else is closed. The whole handshake must finish within `timeouts.header`.
//!
//! The client's hello is read before the handshake goes on, so a name that strict SNI
//! refuses is counted as that, from weir's own choice of certificate, not guessed from
//! the error rustls then returns. Failures are counted by reason and logged (see
//! [`failures`](super::failures)).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::rustls::server::Acceptor;
use futures_rustls::rustls::ServerConfig;
use futures_rustls::LazyConfigAcceptor;

use super::failures::{Failure, Handshakes};

use crate::rt::{self, TcpStream};
use crate::stream::Stream;

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// How an accepted connection's handshake ended.
pub(crate) enum Accepted {
    Tls(Stream),
    /// The client sent plain HTTP: it gets a `400` saying where it went wrong.
    PlainHttp(TcpStream),
    /// Closed: failed, timed out, or not TLS at all (counted and logged).
    Closed,
}

/// Waits for the client's first byte and says whether it starts a TLS record; `None`
/// when the client closed or the socket failed.
async fn first_byte(tcp: &TcpStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    loop {
        rt::readable(tcp).await;
        match rt::peek(tcp, &mut byte) {
            Ok(0) => return None,
            Ok(_) => return Some(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

/// Runs the server handshake on `tcp` within `limit` of now.
pub(crate) async fn accept(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    limit: Duration,
    peer: SocketAddr,
    stats: &Handshakes,
) -> Accepted {
    let deadline = Instant::now() + limit;
    match rt::timeout(limit, first_byte(&tcp)).await {
        None => {
            let why = "nothing sent within timeouts.header";
            stats.fail(peer, Failure::Timeout, &why);
            return Accepted::Closed;
        }
        Some(None) => return Accepted::Closed, // connected and left: a probe, not a failure
        Some(Some(HANDSHAKE_RECORD)) => {}
        Some(Some(b)) if b.is_ascii_uppercase() => {
            let why = "plain HTTP sent to a TLS port";
            stats.fail(peer, Failure::PlainHttp, &why);
            return Accepted::PlainHttp(tcp);
        }
        Some(Some(_)) => {
            stats.fail(peer, Failure::Protocol, &"not a TLS handshake");
            return Accepted::Closed;
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    match rt::timeout(left, handshake(tcp, config)).await {
        None => {
            let why = "not finished within timeouts.header";
            stats.fail(peer, Failure::Timeout, &why);
            Accepted::Closed
        }
        Some(Err((reason, e))) => {
            stats.fail(peer, reason, &e);
            Accepted::Closed
        }
        Some(Ok(s)) => Accepted::Tls(Stream::Server(Box::new(s))),
    }
}

/// The handshake proper: the client's hello first, then the rest with `config`. A
/// failure comes with its reason and what to log; a hello whose name the listener's
/// certificates do not serve (strict SNI) is `NoSniMatch`, decided by asking the
/// listener's own resolver.
async fn handshake(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
) -> Result<futures_rustls::server::TlsStream<TcpStream>, (Failure, String)> {
    let failed = |e: io::Error| (Failure::of(&e), e.to_string());
    let start = LazyConfigAcceptor::new(Acceptor::default(), tcp)
        .await
        .map_err(failed)?;
    let hello = start.client_hello();
    let unserved = match config.cert_resolver.resolve(hello).is_none() {
        true => Some(match start.client_hello().server_name() {
            Some(name) => format!("no certificate for {name:?} (sni_strict)"),
            None => "no server name sent (sni_strict)".to_string(),
        }),
        false => None,
    };
    match (start.into_stream(config).await, unserved) {
        (Err(_), Some(why)) => Err((Failure::NoSniMatch, why)),
        (done, _) => done.map_err(failed),
    }
}
