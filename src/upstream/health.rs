//! Active health checks: a GET to each server every `interval`, off the request path.
//!
//! A server leaves rotation after `fails` consecutive failed checks (no connection, no
//! answer within `timeout`, or a status outside `expect_status`) and comes back after
//! `passes` consecutive good ones. Until its first verdict a server counts as up, so
//! start-up does not wait for checks. Each change is logged once.
//!
//! The probe speaks the group's protocol: an `h2`/`h2c` group's servers are asked over
//! a connection of the probe's own (not the pool's), so a check sees what a new
//! connection would meet. With `grpc_service`, an h2 group's check is a gRPC health
//! call instead of a GET (see [`super::grpc_health`]).

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use std::time::Duration;

use futures_lite::AsyncWriteExt;

use crate::config::Health;
use crate::http::conn::Conn;
use crate::http::parse::{self, HeadLimits};
use crate::http::ResponseHead;
use crate::rt;
use crate::shutdown::Signal;
use crate::upstream::group::Group;
use crate::upstream::grpc_health;
use crate::upstream::peer;

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 16 * 1024,
    max_headers: 100,
};

/// One check: the status if the server answered within `timeout`. It connects as a
/// request does ([`peer::dial`]): a group with `tls` is checked over TLS.
async fn probe(group: &Group, addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let mut stream = peer::dial(group, addr, timeout, None).await.ok()?;
    if group.config.protocol.is_h2() {
        return probe_h2(stream, addr, path, group.config.tls.is_some()).await;
    }
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.flush().await.ok()?;
    let mut conn = Conn::new(stream, 4096, LIMITS.max_bytes);
    let mut res = ResponseHead::default();
    parse::read_response(&mut conn, LIMITS, &mut res)
        .await
        .ok()?;
    Some(res.status)
}

/// The h2 check: one GET on a new connection, driven here until the answer comes.
async fn probe_h2(
    stream: crate::stream::Stream,
    addr: SocketAddr,
    path: &str,
    tls: bool,
) -> Option<u16> {
    use futures_lite::FutureExt;
    let io = crate::http::h2compat::fresh(stream);
    let (send, connection) = h2::client::handshake(io).await.ok()?;
    let scheme = if tls { "https" } else { "http" };
    let req = http::Request::get(format!("{scheme}://{addr}{path}"))
        .header("user-agent", "weir-health-check")
        .body(())
        .ok()?;
    let ask = async move {
        let (answer, _) = send.ready().await.ok()?.send_request(req, true).ok()?;
        Some(answer.await.ok()?.status().as_u16())
    };
    let drive = async move {
        let _ = connection.await;
        None
    };
    ask.or(drive).await
}

async fn healthy(
    group: &Group,
    addr: SocketAddr,
    h: &Health,
    statuses: &RangeInclusive<u16>,
) -> bool {
    if let Some(service) = &h.grpc_service {
        let check = async {
            let stream = peer::dial(group, addr, h.timeout, None).await.ok()?;
            let tls = group.config.tls.is_some();
            Some(grpc_health::serving(stream, addr, service, tls).await)
        };
        return rt::timeout(h.timeout, check).await.flatten() == Some(true);
    }
    let status = rt::timeout(h.timeout, probe(group, addr, &h.path, h.timeout))
        .await
        .flatten();
    status.is_some_and(|s| statuses.contains(&s))
}

/// Checks server `i` of `group` until `retired` fires (a reload replaced the engine
/// that started the task; the next engine starts its own, and the group's state, if
/// the group was kept, carries over).
pub(crate) async fn watch(group: Arc<Group>, i: usize, h: Health, retired: Signal) {
    let Ok(statuses) = h.statuses() else { return };
    let (mut good, mut bad) = (0u32, 0u32);
    let checked = h.checks();
    let mut addr = group.upstreams.addr(i);
    loop {
        // A discovery slot: checked only while listed, and afresh when its address
        // changes.
        let now = group.upstreams.addr(i);
        if now != addr {
            (addr, good, bad) = (now, 0, 0);
        }
        if group.upstreams.state(i).is_unlisted() {
            if retired.fires_within(h.interval).await {
                return;
            }
            continue;
        }
        if healthy(&group, addr, &h, &statuses).await {
            good += 1;
            bad = 0;
        } else {
            bad += 1;
            good = 0;
        }
        let state = group.upstreams.state(i);
        if bad == h.fails.max(1) && state.set_checked(false) {
            let why = format!("{bad} failed health check(s)");
            let log = format_args!("is down: {why} on {checked}");
            group.went(i, false, why.clone(), log);
        }
        if good == h.passes.max(1) && state.set_checked(true) {
            let why = format!("{good} good health check(s)");
            let log = format_args!("is up again: {why}");
            group.went(i, true, why.clone(), log);
        }
        if retired.fires_within(h.interval).await {
            return;
        }
    }
}
