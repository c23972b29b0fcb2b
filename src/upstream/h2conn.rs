//! The task that drives one pooled h2 connection, its PING keep-alive, and why it
//! ended.
//!
//! With `h2_ping_interval` set, the connection (idle or busy) sends a PING every
//! interval and waits `h2_ping_timeout` for the answer. One that does not come means a
//! peer or a path that has gone silent (a crashed host, a dropped NAT mapping, a
//! firewall that forgot the flow): TCP alone would only notice after minutes of
//! retransmissions, and requests would go on queueing on a connection nobody reads.
//! The connection is then dropped: its open streams fail as on a reset connection
//! (the h2 crate ends each with a broken pipe) and its server counts one passive
//! failure. This is Envoy's `connection_keepalive` and gRPC's client keepalive.
//!
//! Off by default, as in both: gRPC servers allow a client one PING per 5 minutes
//! while no call is open (`grpc.http2.min_ping_interval_without_data_ms`) and answer
//! more with `GOAWAY ENHANCE_YOUR_CALM "too_many_pings"`, so an interval under that
//! needs the server's consent.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_lite::FutureExt;
use h2::PingPong;

use crate::metrics::h2upstream::Closed;
use crate::rt;

/// The PING keep-alive of a group's connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ping {
    pub every: Duration,
    pub within: Duration,
}

/// Drives `connection` until it ends, PINGing it through `pings` (when the group has
/// a [`Ping`]); says why it ended. `let_go` is set when the pool dropped its handle
/// (a clean end is then weir's doing, not the server's).
pub(crate) async fn drive(
    connection: impl Future<Output = Result<(), h2::Error>>,
    pings: Option<(PingPong, Ping)>,
    let_go: &AtomicBool,
) -> Closed {
    let ran = async {
        match connection.await {
            Ok(()) if let_go.load(Ordering::Acquire) => Closed::Idle,
            Ok(()) => Closed::GoAway,
            Err(e) if e.is_go_away() => Closed::GoAway,
            Err(_) => Closed::Error,
        }
    };
    match pings {
        None => ran.await,
        // The connection first: when both are ready, its own end is the truer reason.
        Some((pong, ping)) => ran.or(keep_alive(pong, ping)).await,
    }
}

/// PINGs every `ping.every`; returns when one goes unanswered for `ping.within`.
async fn keep_alive(mut pong: PingPong, ping: Ping) -> Closed {
    loop {
        rt::sleep(ping.every).await;
        match rt::timeout(ping.within, pong.ping(h2::Ping::opaque())).await {
            Some(Ok(_)) => continue,
            None => return Closed::PingTimeout,
            // The connection is ending on its own; its end says why.
            Some(Err(_)) => std::future::pending::<()>().await,
        }
    }
}
