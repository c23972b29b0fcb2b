//! The log of refused admin requests, rate-limited: someone probing for the token (or a
//! page hammering the listener) must not be able to flood the log, yet the operator
//! should learn that it happens, from whom, and how often.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line per this long; the refusals in between are counted in the next.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Refusals {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the last line was written.
    last: Option<Instant>,
    /// Refusals since then that were not logged.
    unlogged: u64,
}

impl Refusals {
    /// Notes one refusal of `what` (method and path) from `peer` for `why`.
    pub fn note(&self, peer: SocketAddr, what: &str, why: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if s.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            s.unlogged += 1;
            return;
        }
        let more = match std::mem::take(&mut s.unlogged) {
            0 => String::new(),
            n => format!(
                " ({n} more refused in the {}s before, not logged one by one)",
                s.last.map_or(0, |t| now.duration_since(t).as_secs())
            ),
        };
        s.last = Some(now);
        drop(s);
        eprintln!("weir: admin: refused {what} from {peer}: {why}{more}");
    }
}
