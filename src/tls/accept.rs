//! The server side of a TLS handshake on an accepted connection.
//!
//! Before any TLS state exists, weir waits for the client's first bytes with no buffer
//! and peeks at them: a client that connects and says nothing costs what a plain idle
//! connection does. A TLS record starts with `0x16`; an HTTP method is a plain HTTP
//! client at the wrong port, answered with a plain-text `400` saying so (as nginx does);
//! anything else is closed. The whole handshake must finish within `timeouts.header`.
//!
//! Failures are counted, and logged at most once a second with the number left unsaid
//! since the last line, so a scan or a flood of broken clients cannot flood the log.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_rustls::rustls::ServerConfig;
use futures_rustls::TlsAcceptor;

use crate::rt::{self, TcpStream};
use crate::stream::Stream;

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;
/// Shortest interval between two handshake-failure log lines.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// How an accepted connection's handshake ended.
pub(crate) enum Accepted {
    Tls(Stream),
    /// The client sent plain HTTP: it gets a `400` saying where it went wrong.
    PlainHttp(TcpStream),
    /// Closed: failed, timed out, or not TLS at all (counted and logged).
    Closed,
}

/// Handshake failure counts, shared by the engines a reload makes.
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    failed: AtomicU64,
    log: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last: Option<Instant>,
    unsaid: u64,
}

impl Handshakes {
    /// Handshakes that failed since start-up (timeouts, alerts, plain HTTP, garbage).
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }

    fn fail(&self, peer: SocketAddr, why: &dyn std::fmt::Display) {
        self.failed.fetch_add(1, Relaxed);
        self.log(format_args!("TLS handshake from {peer} failed: {why}"));
    }

    /// Logs a failed handshake with an upstream (rate-limited like client failures,
    /// not counted with them: the request's 502 or 504 counts it).
    pub fn upstream_failed(&self, addr: SocketAddr, why: &dyn std::fmt::Display) {
        self.log(format_args!(
            "TLS handshake with upstream {addr} failed: {why}"
        ));
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if log.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            log.unsaid += 1;
            return;
        }
        let unsaid = std::mem::take(&mut log.unsaid);
        log.last = Some(now);
        drop(log);
        match unsaid {
            0 => eprintln!("weir: {what}"),
            n => eprintln!("weir: {what} ({n} more TLS failures since the last line)"),
        }
    }
}

/// Waits for the client's first byte and says whether it starts a TLS record; `None`
/// when the client closed or the socket failed.
async fn first_byte(tcp: &TcpStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    loop {
        rt::readable(tcp).await;
        match tcp.get_ref().peek(&mut byte) {
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
            stats.fail(peer, &"nothing sent within timeouts.header");
            return Accepted::Closed;
        }
        Some(None) => return Accepted::Closed, // connected and left: a probe, not a failure
        Some(Some(HANDSHAKE_RECORD)) => {}
        Some(Some(b)) if b.is_ascii_uppercase() => {
            stats.fail(peer, &"plain HTTP sent to a TLS port");
            return Accepted::PlainHttp(tcp);
        }
        Some(Some(_)) => {
            stats.fail(peer, &"not a TLS handshake");
            return Accepted::Closed;
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    match rt::timeout(left, TlsAcceptor::from(config).accept(tcp)).await {
        None => {
            stats.fail(peer, &"not finished within timeouts.header");
            Accepted::Closed
        }
        Some(Err(e)) => {
            stats.fail(peer, &e);
            Accepted::Closed
        }
        Some(Ok(s)) => Accepted::Tls(Stream::Server(Box::new(s))),
    }
}
