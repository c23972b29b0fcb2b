//! Failed client handshakes: counted by reason for `/metrics`, and logged at most once a
//! second with the number left unsaid since the last line, so a scan or a flood of
//! broken clients cannot flood the log.
//!
//! The reasons are the questions an operator asks of a failure count: is a client
//! asking for a name no certificate carries (`no_sni_match`, under `sni_strict`), are
//! clients too old or not speaking TLS (`protocol`: no common version or cipher suite, a
//! malformed handshake, bytes that are not TLS), do clients reject weir's certificate
//! (`client_alert`: what curl and browsers send for an unknown CA or a wrong name), do
//! they stall (`timeout`), send plain HTTP to the TLS port (`plain_http`), fail mutual
//! TLS (`client_certificate`), or hang up halfway (`closed`). The reason comes from
//! rustls' typed error, never from its text.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_rustls::rustls;

/// Shortest interval between two handshake-failure log lines.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Why a client handshake failed: the `reason` label of
/// `weir_tls_handshake_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    Timeout,
    NoSniMatch,
    Protocol,
    ClientAlert,
    ClientCertificate,
    PlainHttp,
    Closed,
    Other,
}

impl Failure {
    /// Every reason, in the order the metrics list them.
    pub const ALL: [Failure; 8] = [
        Failure::Timeout,
        Failure::NoSniMatch,
        Failure::Protocol,
        Failure::ClientAlert,
        Failure::ClientCertificate,
        Failure::PlainHttp,
        Failure::Closed,
        Failure::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::NoSniMatch => "no_sni_match",
            Failure::Protocol => "protocol",
            Failure::ClientAlert => "client_alert",
            Failure::ClientCertificate => "client_certificate",
            Failure::PlainHttp => "plain_http",
            Failure::Closed => "closed",
            Failure::Other => "other",
        }
    }

    /// The reason for a handshake that ended in `e`, from rustls' error inside it (the
    /// TLS streams wrap it in an `io::Error`), else from the socket's error kind.
    pub fn of(e: &io::Error) -> Failure {
        use rustls::Error as E;
        match e.get_ref().and_then(|e| e.downcast_ref::<E>()) {
            Some(E::AlertReceived(_)) => Failure::ClientAlert,
            Some(E::NoCertificatesPresented | E::InvalidCertificate(_)) => {
                Failure::ClientCertificate
            }
            Some(
                E::PeerIncompatible(_)
                | E::PeerMisbehaved(_)
                | E::InvalidMessage(_)
                | E::InappropriateMessage { .. }
                | E::InappropriateHandshakeMessage { .. }
                | E::DecryptError,
            ) => Failure::Protocol,
            Some(_) => Failure::Other,
            None => match e.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => Failure::Closed,
                _ => Failure::Other,
            },
        }
    }
}

/// Handshake failure counts, shared by the engines a reload makes.
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    by_reason: [AtomicU64; Failure::ALL.len()],
    log: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last: Option<Instant>,
    unsaid: u64,
}

impl Handshakes {
    /// Handshakes that failed since start-up, for every reason.
    pub fn failed(&self) -> u64 {
        self.by_reason.iter().map(|n| n.load(Relaxed)).sum()
    }

    /// Each reason with its count since start-up, in [`Failure::ALL`] order.
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Failure::ALL
            .iter()
            .zip(&self.by_reason)
            .map(|(f, n)| (f.as_str(), n.load(Relaxed)))
    }

    /// Counts a failed client handshake and logs it (rate-limited).
    pub fn fail(&self, peer: SocketAddr, reason: Failure, why: &dyn fmt::Display) {
        self.by_reason[reason as usize].fetch_add(1, Relaxed);
        self.log(format_args!("TLS handshake from {peer} failed: {why}"));
    }

    /// Logs a failed handshake with an upstream (rate-limited like client failures,
    /// not counted with them: the request's 502 or 504 counts it).
    pub fn upstream_failed(&self, addr: SocketAddr, why: &dyn fmt::Display) {
        self.log(format_args!(
            "TLS handshake with upstream {addr} failed: {why}"
        ));
    }

    fn log(&self, what: fmt::Arguments<'_>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_and_name() {
        for (i, f) in Failure::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        let h = Handshakes::default();
        let peer = "127.0.0.1:1".parse().unwrap();
        h.fail(peer, Failure::NoSniMatch, &"test");
        let counts: Vec<_> = h.by_reason().filter(|(_, n)| *n > 0).collect();
        assert_eq!(counts, [("no_sni_match", 1)]);
        assert_eq!(h.failed(), 1);
    }

    #[test]
    fn reasons_come_from_rustls_typed_errors_and_socket_kinds() {
        let tls = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let alert = rustls::AlertDescription::UnknownCA;
        assert_eq!(
            Failure::of(&tls(rustls::Error::AlertReceived(alert))),
            Failure::ClientAlert
        );
        let old = rustls::PeerIncompatible::SupportedVersionsExtensionRequired;
        assert_eq!(
            Failure::of(&tls(rustls::Error::PeerIncompatible(old))),
            Failure::Protocol
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(Failure::of(&eof), Failure::Closed);
    }
}
