//! `send_proxy_protocol`: the PROXY header weir writes to a group's servers, so an
//! upstream behind weir learns the client's address (HAProxy's `send-proxy` and
//! `send-proxy-v2`, nginx's `proxy_protocol on` in its stream module).
//!
//! The header goes out right after the TCP connect, before TLS for a TLS group, with
//! the client's address as weir knows it (after any PROXY header weir itself received)
//! as the source, and the server's address as the destination. When the two families
//! differ, both are written as IPv6 (an IPv4 address mapped), since a header carries
//! one family. An active health check has no client: it sends v2's `LOCAL` command (v1:
//! `PROXY UNKNOWN`), which tells the server to use the connection's own addresses.
//!
//! A connection carries the header of the client that opened it, for its whole life.
//! HAProxy reuses such connections for other clients anyway (`http-reuse`), which makes
//! the address a server sees wrong for every later request; weir does not: a group that
//! sends the header keeps no idle connections (its `keepalive` is taken as 0), so each
//! request opens its own connection and every header is true. That costs a connect per
//! request, which is the price of an accurate address at a layer-7 proxy.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use ppp::v2;

use crate::config::{GroupConfig, SendVersion};
use crate::rt::{self, TcpStream};

use super::group::Group;
use super::peer::Dial;

/// The idle connections a group may keep per server: none when it sends the header.
pub(crate) fn keepalive(config: &GroupConfig) -> usize {
    match config.send_proxy_protocol {
        Some(_) => 0,
        None => config.keepalive,
    }
}

/// Writes `group`'s PROXY header, if it sends one, on the new connection `tcp` to
/// `server`, within `timeout`. `client` is `None` for a health check.
pub(crate) async fn send(
    group: &Group,
    tcp: &mut TcpStream,
    client: Option<SocketAddr>,
    server: SocketAddr,
    timeout: Duration,
) -> Result<(), Dial> {
    let Some(version) = group.config.send_proxy_protocol else {
        return Ok(());
    };
    let bytes = header(version, client.map(|c| same_family(c, server)));
    let write = async {
        tcp.write_all(&bytes).await?;
        tcp.flush().await
    };
    match rt::timeout(timeout, write).await {
        None => Err(Dial::ConnectTimeout),
        Some(Err(err)) => Err(Dial::Connect(err)),
        Some(Ok(())) => Ok(()),
    }
}

/// The header for a connection from `addrs` (source, destination), or for one weir
/// opens on its own behalf (`None`).
pub(crate) fn header(version: SendVersion, addrs: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    match (version, addrs) {
        (SendVersion::V1, Some(addrs)) => ppp::v1::Addresses::from(addrs).to_string().into(),
        (SendVersion::V1, None) => ppp::v1::Addresses::Unknown.to_string().into(),
        (SendVersion::V2, addrs) => {
            let (command, protocol, addrs) = match addrs {
                Some(a) => (v2::Command::Proxy, v2::Protocol::Stream, a.into()),
                None => (
                    v2::Command::Local,
                    v2::Protocol::Unspecified,
                    v2::Addresses::Unspecified,
                ),
            };
            let builder = v2::Builder::with_addresses(v2::Version::Two | command, protocol, addrs);
            // Only a header past 64 KiB fails to build; this one is at most 52 bytes.
            builder.build().unwrap_or_default()
        }
    }
}

/// `(client, server)` in one address family: both as they are, or both IPv6.
fn same_family(client: SocketAddr, server: SocketAddr) -> (SocketAddr, SocketAddr) {
    if client.is_ipv4() == server.is_ipv4() {
        return (client, server);
    }
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    (v6(client), v6(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_the_client_and_the_server() {
        let c: SocketAddr = "192.0.2.7:5555".parse().unwrap();
        let s: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v1 = header(SendVersion::V1, Some((c, s)));
        assert_eq!(v1, b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 8080\r\n");
        assert_eq!(header(SendVersion::V1, None), b"PROXY UNKNOWN\r\n");
        let v2 = header(SendVersion::V2, Some((c, s)));
        assert_eq!(&v2[..12], v2::PROTOCOL_PREFIX);
        assert_eq!(&v2[12..16], [0x21, 0x11, 0, 12]);
        assert_eq!(&v2[16..20], [192, 0, 2, 7]);
        let local = header(SendVersion::V2, None);
        assert_eq!(&local[12..16], [0x20, 0x00, 0, 0]);
        let mixed = same_family("[2001:db8::1]:1".parse().unwrap(), s);
        assert_eq!(mixed.1.to_string(), "[::ffff:127.0.0.1]:8080");
    }
}
