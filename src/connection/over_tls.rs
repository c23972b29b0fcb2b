//! A TLS listener's connection: the handshake, then the protocol ALPN agreed.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_rustls::rustls::ServerConfig;

use super::serve;
use crate::admission::Seat;
use crate::downstream::h2;
use crate::downstream::{Downstream, TextReply};
use crate::listener_id::ListenerId;
use crate::live::Live;
use crate::rt::{self, Runtime};
use crate::tls::{self, Accepted};
use crate::upstream::pool::BUFFER;

/// What a plain HTTP client that reached a TLS listener is told (nginx says the same).
const PLAIN_HTTP_TO_TLS: &[u8] =
    b"400 Bad Request: the plain HTTP request was sent to an HTTPS port; use https://\n";

/// Runs the TLS handshake on a connection accepted by a TLS listener, then serves it
/// in the protocol ALPN agreed (`h2` is offered only when the listener turns it on).
pub(super) async fn serve_tls(
    live: Arc<Live>,
    tcp: rt::TcpStream,
    from: (SocketAddr, ListenerId),
    config: Arc<ServerConfig>,
    seat: Seat,
    runtime: Runtime,
) {
    let peer = from.0;
    let e = live.get();
    let limit = e.config.timeouts.header;
    match tls::accept(tcp, config, limit, peer, &e.handshakes).await {
        Accepted::Tls(stream) if stream.alpn() == Some(b"h2") => {
            drop(e);
            let (peer, listener) = from;
            let from = h2::From {
                peer,
                listener,
                tls: true,
            };
            h2::serve(live, h2::unread(stream), from, seat, runtime).await
        }
        Accepted::Tls(stream) => {
            drop(e);
            serve(live, stream, from, seat, runtime).await
        }
        Accepted::PlainHttp(tcp) => {
            let mut client = Downstream::new(tcp.into(), peer, BUFFER);
            client
                .write_text(400, PLAIN_HTTP_TO_TLS, TextReply::closing(limit))
                .await;
            client.linger().await;
        }
        Accepted::Closed => {}
    }
}
