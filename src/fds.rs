//! File descriptors: enough of them at start-up, as many clients as fit, and a calm
//! accept loop should they run out all the same.
//!
//! Each client connection may hold two descriptors (its own socket and one to an
//! upstream), and the pool keeps idle upstream connections besides. At start-up weir
//! raises the soft open-file limit to the hard one ([`rt::raise_fd_limit`]). When
//! `max_connections` still cannot fit in it, weir holds only as many clients as do
//! fit ([`seats`]), as HAProxy derives its `maxconn` from the open-file limit: the rest
//! wait in the listen backlog for a seat, where they are served in turn, instead of
//! being accepted and then answered 503 for want of a descriptor to the upstream (with
//! `ulimit -n 256`, a third of a burst of 1,000 was). A warning says so at start-up.
//!
//! Should descriptors run out anyway (another part of the process, a lowered limit),
//! `accept` fails with EMFILE while the connection waits in the kernel's queue, so
//! retrying at once would spin. [`AcceptPause`] makes the loop wait a little before
//! the next try (nginx waits 500 ms, HAProxy until a descriptor is freed; 50 ms keeps
//! the pause short once one is) and logs an episode once, when it begins and when
//! accepts work again, instead of once per try.

use std::io;
use std::time::{Duration, Instant};

use crate::config::Config;
#[cfg(doc)]
use crate::config::SLOTS_PER_NAME;
use crate::rt;

/// Descriptors kept for everything but clients, upstreams and the runtime: standard
/// streams, logs, signals, plugin checks, the admin listener and its clients.
const SPARE: u64 = 32;

/// How long the accept loop waits after a failed accept before trying again.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Descriptors one group with `resolve` may hold at once: its lookup thread's socket
/// (UDP, or TCP for a truncated answer) and `/etc/resolv.conf` or `/etc/hosts` while
/// it reads them. The thread itself holds none.
const PER_RESOLVING_GROUP: u64 = 2;

/// Descriptors `config` needs besides two per client: the spare, each worker thread's
/// reactor (an epoll and an eventfd), the listeners, and per server one health probe
/// and the idle pool's `keepalive` connections. A server is each slot a group has:
/// its fixed servers and each name's [`SLOTS_PER_NAME`], which DNS may fill at any
/// time. For `h2`/`h2c` groups the same holds: a busy connection serves at least one
/// client (counted in its two), and `keepalive` idle ones are kept per server. Each
/// group with `resolve` adds its lookups' [`PER_RESOLVING_GROUP`].
fn reserved(config: &Config) -> u64 {
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    } as u64;
    let groups = config.upstream_groups();
    let per_group = groups.iter().map(|g| g.slots() * (g.keepalive + 1));
    let pool = per_group.sum::<usize>() as u64;
    let resolving = groups.iter().filter(|g| g.resolve.is_some()).count() as u64;
    SPARE + 2 * threads + config.listen.len() as u64 + pool + resolving * PER_RESOLVING_GROUP
}

/// Descriptors `config` may need at once.
pub fn needed(config: &Config) -> u64 {
    config.limits.max_connections as u64 * 2 + reserved(config)
}

/// How many clients weir holds at once under an open-file limit of `soft`:
/// `max_connections`, or fewer if that does not fit (at least one).
pub fn seats(config: &Config, soft: u64) -> usize {
    let fit = soft.saturating_sub(reserved(config)) / 2;
    let fit = usize::try_from(fit).unwrap_or(usize::MAX).max(1);
    config.limits.max_connections.min(fit)
}

/// Raises the open-file limit; returns how many clients to hold at once, having
/// warned on stderr when `max_connections` cannot fit.
pub fn prepare(config: &Config) -> usize {
    let max = config.limits.max_connections;
    let Some(limit) = rt::raise_fd_limit() else {
        return max;
    };
    let need = needed(config);
    let seats = seats(config, limit.soft);
    if seats < max {
        eprintln!(
            "weir: warning: limits.max_connections = {max} may need {need} open files (2 per \
             client, {} for the idle upstream pool, threads and spare) but the limit is {} \
             (hard {}); weir holds {seats} clients at once and the rest wait in the listen \
             backlog. Raise `ulimit -n` (LimitNOFILE= under systemd) or lower max_connections",
            reserved(config),
            limit.soft,
            limit.hard
        );
    }
    seats
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_slot_of_a_name_and_each_resolving_group_are_counted() {
        let group = |servers: &str, more: &str| {
            let text =
                format!("threads = 1\n[upstream]\nservers = [{servers}]\nkeepalive = 3\n{more}");
            Config::parse(&text, "f.toml").unwrap()
        };
        let fixed = group("\"127.0.0.1:1\"", "");
        let named = group(
            "\"127.0.0.1:1\", \"api.weir.test:80\"",
            "resolve = \"5s\"\n",
        );
        let per_slot = 3 + 1;
        assert_eq!(
            needed(&named) - needed(&fixed),
            16 * per_slot + PER_RESOLVING_GROUP
        );
    }
}
