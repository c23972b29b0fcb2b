//! Receiving the PROXY protocol (HAProxy's spec, v1 and v2): behind a layer-4 balancer,
//! the client's address is the one the balancer's header gives, not the socket's.
//!
//! A listener with `proxy_protocol` reads the header first on every connection, before
//! TLS, ALPN or the HTTP/2 preface, and the source address it gives replaces the peer
//! once, at accept: the access log, `X-Forwarded-For`, `hash_key = "client-ip"`, plugins
//! and HTTP/2 all see it because they only ever see that one address. A connection is
//! closed without a byte read past the header, and counted by reason, when its peer is
//! not in `trusted`, when the header is missing, malformed, too long or of a version the
//! listener does not take, or when it does not arrive within `timeouts.header`.
//!
//! The admin listener never reads a header (it has no `proxy_protocol`), so its
//! loopback rule looks at the socket's own peer, which no header can change.
//!
//! A v2 `LOCAL` header (the balancer's own health check), v1 `UNKNOWN`, or an address
//! family weir cannot use leave the socket's own address in place, as the spec says.
//! v2's TLVs are read and checked (a TLV running past the header, or an authority that
//! is not UTF-8, is malformed). The authority (the original SNI) and ALPN change
//! nothing: weir terminates TLS itself, so its own handshake gives the name and the
//! protocol, and a balancer that terminated TLS hands weir plain HTTP whose `Host` says
//! the name (see the README, "PROXY protocol").

mod read;
mod rejects;

pub(crate) use rejects::Rejects;

use std::net::SocketAddr;

use crate::listener_id::ListenerId;
use crate::live::Live;
use crate::rt::{self, TcpStream};

/// What a header told.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// The client's address; `None` to keep the socket's (LOCAL, UNKNOWN, UNIX).
    pub source: Option<SocketAddr>,
}

/// Why a connection was closed before its first request: the `reason` label of
/// `weir_proxy_protocol_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    Untrusted,
    Missing,
    Malformed,
    TooLong,
    Version,
    Timeout,
    Closed,
}

impl Reject {
    /// Every reason, in the order the metrics list them.
    pub const ALL: [Reject; 7] = [
        Reject::Untrusted,
        Reject::Missing,
        Reject::Malformed,
        Reject::TooLong,
        Reject::Version,
        Reject::Timeout,
        Reject::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Untrusted => "untrusted",
            Reject::Missing => "missing",
            Reject::Malformed => "malformed",
            Reject::TooLong => "too_long",
            Reject::Version => "version",
            Reject::Timeout => "timeout",
            Reject::Closed => "closed",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Reject::Untrusted => {
                "not in the listener's `trusted`, so it may not send a PROXY header"
            }
            Reject::Missing => "no PROXY header (neither v1's nor v2's signature)",
            Reject::Malformed => "malformed PROXY header",
            Reject::TooLong => "PROXY header too long",
            Reject::Version => "a PROXY header version this listener does not take",
            Reject::Timeout => "no whole PROXY header within timeouts.header",
            Reject::Closed => "closed before its PROXY header ended",
        }
    }
}

/// The client address of a connection accepted from `peer` on listener `id`: `peer`
/// itself, or, on a listener with `proxy_protocol`, what its header says. `None` when
/// the connection is to be closed (already counted and logged). A connection with no
/// listener id (`None`, as a session off the proxy listeners has) takes no header.
pub(crate) async fn accept(
    live: &Live,
    id: Option<ListenerId>,
    tcp: &mut TcpStream,
    peer: SocketAddr,
) -> Option<SocketAddr> {
    let e = live.get();
    let Some(proxy) = id
        .and_then(|id| e.listener(id))
        .and_then(|i| e.config.listen[i].proxy_protocol.as_ref())
    else {
        return Some(peer);
    };
    let outcome = match proxy.trusts(peer.ip()) {
        false => Err(Reject::Untrusted),
        true => {
            // Boxed: only connections to a proxied listener pay for the reader's state.
            let read = Box::pin(read::header(tcp, proxy.accept));
            match rt::timeout(e.config.timeouts.header, read).await {
                None => Err(Reject::Timeout),
                Some(read) => read,
            }
        }
    };
    match outcome {
        Ok(received) => Some(received.source.unwrap_or(peer)),
        Err(why) => {
            e.proxy_rejects.reject(peer, why);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_and_name() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let counts = Rejects::default();
        counts.reject("127.0.0.1:1".parse().unwrap(), Reject::TooLong);
        let seen: Vec<_> = counts.by_reason().filter(|(_, n)| *n > 0).collect();
        assert_eq!(seen, [("too_long", 1)]);
    }
}
