//! Reading one PROXY header off a new connection, exactly: not a byte of what follows.
//!
//! Whatever follows the header (a request, a TLS ClientHello, the HTTP/2 preface) must
//! stay in the socket for the code that reads it next, so nothing is read past the
//! header. Every header is at least 15 bytes (`PROXY UNKNOWN\r\n`), so 15 are read first,
//! which tells v1 from v2. v2 then gives its length in its 16-byte fixed part, and
//! exactly that much more is read. v1 ends at its CRLF: what the socket holds is peeked
//! at, and only up to the line's end is taken; should the line come in pieces, each
//! piece is read as it comes (a piece without the CRLF is all header).
//!
//! The bytes are parsed by the `ppp` crate; weir only decides how many to read.

use std::io;
use std::net::SocketAddr;

use futures_lite::AsyncReadExt;
use ppp::v1;
use ppp::v2;

use crate::config::Versions;
use crate::rt::{self, TcpStream};

use super::{Received, Reject};

/// The shortest header: `PROXY UNKNOWN\r\n`.
const SHORTEST: usize = 15;
/// The longest v1 line the spec allows, CRLF included.
const V1_MAX: usize = 107;
/// The most a v2 header may carry after its fixed part. HAProxy's own TLVs (SNI, ALPN,
/// TLS details, a unique id) take a few hundred bytes; the spec's 64 KiB is not worth
/// holding for a connection not yet known to be honest.
pub const V2_MAX_PAYLOAD: usize = 4096;
/// The fixed part of a v2 header: signature, version and command, family, length.
const V2_FIXED: usize = 16;
const V1_PREFIX: &[u8] = b"PROXY ";

/// Reads the header a balancer sent first on `tcp`, in a version `accept` allows.
pub(super) async fn header(tcp: &mut TcpStream, accept: Versions) -> Result<Received, Reject> {
    let mut buf = vec![0u8; SHORTEST];
    tcp.read_exact(&mut buf).await.map_err(closed)?;
    if buf.starts_with(v2::PROTOCOL_PREFIX) {
        if !accept.v2() {
            return Err(Reject::Version);
        }
        return v2_header(tcp, buf).await;
    }
    if buf.starts_with(V1_PREFIX) {
        if !accept.v1() {
            return Err(Reject::Version);
        }
        return v1_header(tcp, buf).await;
    }
    Err(Reject::Missing)
}

fn closed(_: io::Error) -> Reject {
    Reject::Closed
}

async fn v2_header(tcp: &mut TcpStream, mut buf: Vec<u8>) -> Result<Received, Reject> {
    buf.resize(V2_FIXED, 0);
    tcp.read_exact(&mut buf[SHORTEST..]).await.map_err(closed)?;
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > V2_MAX_PAYLOAD {
        return Err(Reject::TooLong);
    }
    buf.resize(V2_FIXED + len, 0);
    tcp.read_exact(&mut buf[V2_FIXED..]).await.map_err(closed)?;
    let header = v2::Header::try_from(&buf[..]).map_err(|_| Reject::Malformed)?;
    received_v2(&header)
}

/// What a parsed v2 header says: the source for `PROXY` over TCP (IPv4 or IPv6), none
/// for `LOCAL` (the balancer's own health check) or for an address weir cannot use (a
/// UNIX socket, UNSPEC), which the spec says to treat as the connection's own. Its TLVs
/// must be well formed, and an authority (SNI) UTF-8.
fn received_v2(header: &v2::Header<'_>) -> Result<Received, Reject> {
    let mut received = Received::default();
    if header.command == v2::Command::Proxy {
        received.source = match header.addresses {
            v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            _ => None,
        };
    }
    for tlv in header.tlvs() {
        let tlv = tlv.map_err(|_| Reject::Malformed)?;
        let authority = tlv.kind == u8::from(v2::Type::Authority);
        if authority && std::str::from_utf8(&tlv.value).is_err() {
            return Err(Reject::Malformed);
        }
    }
    Ok(received)
}

async fn v1_header(tcp: &mut TcpStream, mut buf: Vec<u8>) -> Result<Received, Reject> {
    while !buf.ends_with(b"\n") {
        if buf.len() >= V1_MAX {
            return Err(Reject::TooLong);
        }
        let mut more = [0u8; V1_MAX];
        let room = &mut more[..V1_MAX - buf.len()];
        let take = match peek(tcp, room) {
            Some(0) => return Err(Reject::Closed),
            Some(n) => room[..n]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(n, |i| i + 1),
            None => 1, // nothing held yet: wait for the next byte
        };
        tcp.read_exact(&mut room[..take]).await.map_err(closed)?;
        buf.extend_from_slice(&room[..take]);
    }
    let header = v1::Header::try_from(&buf[..]).map_err(|_| Reject::Malformed)?;
    Ok(Received {
        source: match header.addresses {
            v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Unknown => None,
        },
    })
}

/// What the socket holds now, without taking it: `None` if nothing yet (or the peek
/// failed, which the read that follows reports), `Some(0)` at EOF.
fn peek(tcp: &TcpStream, into: &mut [u8]) -> Option<usize> {
    rt::peek(tcp, into).ok()
}
