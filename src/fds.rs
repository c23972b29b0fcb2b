//! File descriptors: enough of them at start-up, and a calm accept loop without them.
//!
//! Each client connection may hold two descriptors (its own socket and one to an
//! upstream), and the pool keeps idle upstream connections besides. At start-up weir
//! raises the soft open-file limit to the hard one ([`rt::raise_fd_limit`]) and warns
//! when `max_connections` cannot fit in it, rather than finding out under load.
//!
//! When descriptors do run out, `accept` fails with EMFILE while the connection waits in
//! the kernel's queue, so retrying at once would spin. [`AcceptPause`] makes the loop
//! wait a little before the next try (nginx waits 500 ms, HAProxy until a descriptor is
//! freed; 50 ms keeps the pause short once one is) and logs an episode once, when it
//! begins and when accepts work again, instead of once per try.

use std::io;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::rt;

/// Descriptors kept for everything else: listeners, the reactor, logs, plugins.
const SPARE: u64 = 64;

/// How long the accept loop waits after a failed accept before trying again.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Descriptors `config` may need at once: two per client, the idle pool, a spare.
pub fn needed(config: &Config) -> u64 {
    let clients = config.limits.max_connections as u64;
    let idle = (config.keepalive * config.upstreams.len()) as u64;
    clients * 2 + idle + SPARE
}

/// Raises the open-file limit and warns on stderr when `config` cannot fit in it.
pub fn prepare(config: &Config) {
    let Some(limit) = rt::raise_fd_limit() else {
        return;
    };
    let need = needed(config);
    if need > limit.soft {
        eprintln!(
            "weir: warning: limits.max_connections = {} may need {need} open files (2 per \
             client, the idle upstream pool, {SPARE} spare) but the limit is {} (hard {}); \
             past it weir pauses accepting. Raise `ulimit -n` (LimitNOFILE= under systemd) \
             or lower max_connections",
            config.limits.max_connections, limit.soft, limit.hard
        );
    }
}

/// The accept loop's memory of a run of failed accepts.
#[derive(Default)]
pub struct AcceptPause {
    /// When the run began and how many accepts failed in it.
    run: Option<(Instant, u64)>,
}

impl AcceptPause {
    /// Notes a failed accept; logs the first of a run. The caller then waits
    /// [`ACCEPT_PAUSE`].
    pub fn failed(&mut self, e: &io::Error) {
        match &mut self.run {
            Some((_, n)) => *n += 1,
            None => {
                let why = rt::local_shortage(e).map_or_else(|| e.to_string(), str::to_string);
                eprintln!(
                    "weir: accept failed: {why}; pausing new connections until it works again"
                );
                self.run = Some((Instant::now(), 1));
            }
        }
    }

    /// Notes an accept that worked; logs the end of a run, if one was going on.
    pub fn worked(&mut self) {
        if let Some((since, n)) = self.run.take() {
            eprintln!(
                "weir: accepting again after {n} failed accept(s) over {}ms",
                since.elapsed().as_millis()
            );
        }
    }
}
