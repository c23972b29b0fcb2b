//! Active health checks: a GET to each server every `interval`, off the request path.
//!
//! A server leaves rotation after `fails` consecutive failed checks (no connection, no
//! answer within `timeout`, or a status outside `expect_status`) and comes back after
//! `passes` consecutive good ones. Until its first verdict a server counts as up, so
//! start-up does not wait for checks. Each change is logged once.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use futures_lite::AsyncWriteExt;
use futures_rustls::TlsConnector;

use crate::config::Health;
use crate::http::conn::Conn;
use crate::http::parse::{self, HeadLimits};
use crate::http::ResponseHead;
use crate::rt;
use crate::shutdown::Signal;
use crate::stream::Stream;
use crate::tls;
use crate::upstream::group::Group;

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 16 * 1024,
    max_headers: 100,
};

/// One check: the status if the server answered in time. A group with `tls` is
/// checked over TLS, as its requests go.
async fn probe(group: &Group, addr: SocketAddr, path: &str) -> Option<u16> {
    let tcp = rt::connect(addr).await.ok()?;
    let mut stream = match (group.tls(), &group.config.tls) {
        (Some(config), Some(t)) => {
            let name = tls::server_name(t, addr);
            let s = TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .ok()?;
            Stream::Client(Box::new(s))
        }
        _ => Stream::Plain(tcp),
    };
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

async fn healthy(
    group: &Group,
    addr: SocketAddr,
    h: &Health,
    statuses: &RangeInclusive<u16>,
) -> bool {
    let status = rt::timeout(h.timeout, probe(group, addr, &h.path))
        .await
        .flatten();
    status.is_some_and(|s| statuses.contains(&s))
}

/// Checks server `i` of `group` until `retired` fires (a reload replaced the engine
/// that started the task; the next engine starts its own, and the group's state, if
/// the group was kept, carries over).
pub(crate) async fn watch(group: Arc<Group>, i: usize, h: Health, retired: Signal) {
    let Ok(statuses) = h.statuses() else { return };
    let addr = group.upstreams[i].addr;
    let (mut good, mut bad) = (0u32, 0u32);
    loop {
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
            group.stats.events.note("down", addr.to_string(), why);
            eprintln!(
                "weir: upstream {addr} is down: {bad} failed health check(s) on {}",
                h.path
            );
        }
        if good == h.passes.max(1) && state.set_checked(true) {
            let why = format!("{good} good health check(s)");
            group.stats.events.note("up", addr.to_string(), why);
            super::log_back_up(addr, &format!("{good} good health check(s)"));
        }
        if retired.fires_within(h.interval).await {
            return;
        }
    }
}
