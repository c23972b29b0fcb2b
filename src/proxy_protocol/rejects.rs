//! Connections closed for their PROXY header: counted by reason for
//! `weir_proxy_protocol_rejected_total`, and logged at most once a second (a scan of a
//! proxied port must not flood the log).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Reject;

const LOG_EVERY: Duration = Duration::from_secs(1);

/// Rejection counts, shared by the engines a reload makes.
#[derive(Debug, Default)]
pub(crate) struct Rejects {
    by_reason: [AtomicU64; Reject::ALL.len()],
    log: Mutex<(Option<Instant>, u64)>,
}

impl Rejects {
    /// Each reason with its count since start-up, in [`Reject::ALL`] order.
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Reject::ALL
            .iter()
            .zip(&self.by_reason)
            .map(|(r, n)| (r.as_str(), n.load(Relaxed)))
    }

    /// Counts a connection from `peer` (the socket's own address) closed for `why`.
    pub fn reject(&self, peer: SocketAddr, why: Reject) {
        self.by_reason[why as usize].fetch_add(1, Relaxed);
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if log.0.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            log.1 += 1;
            return;
        }
        let unsaid = std::mem::take(&mut log.1);
        log.0 = Some(now);
        drop(log);
        let more = match unsaid {
            0 => String::new(),
            n => format!(" ({n} more since the last line)"),
        };
        eprintln!(
            "weir: connection from {peer} closed: {}{more}",
            why.explain()
        );
    }
}
