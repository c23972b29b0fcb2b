//! One upstream group at run time: its servers with their live state, and its pool.
//!
//! A group outlives the engine that built it when a reload leaves its definition
//! unchanged: the next engine takes the same `Arc<Group>`, so pooled connections and
//! passive and active health carry over (Caddy loses health state on reload; weir does
//! not).

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use futures_rustls::rustls::ClientConfig;

use crate::config::{duration, GroupConfig};
use crate::discovery::NameStatus;
use crate::metrics::group::GroupStats;
use crate::upstream::h2conn::Ping;
use crate::upstream::h2pool::H2Pool;
use crate::upstream::pool::Pool;
use crate::upstream::Upstreams;

pub(crate) struct Group {
    /// The definition it was built from; a reload compares it to decide on reuse.
    pub config: GroupConfig,
    /// The TLS client config for the group's servers, when `tls` is set; replaced when
    /// a reload keeps the group, so renewed CA and client certificate files apply.
    tls: RwLock<Option<Arc<ClientConfig>>>,
    pub upstreams: Upstreams,
    pub pool: Pool,
    /// The multiplexed connections of an `h2`/`h2c` group (empty for HTTP/1.1).
    pub h2: H2Pool,
    /// Per-server counters and recent health changes (see `metrics::group`).
    pub stats: GroupStats,
    /// Each name's latest lookup (empty without `resolve`): see `discovery`.
    pub names: Mutex<Vec<NameStatus>>,
}

impl Group {
    pub fn new(config: GroupConfig, tls: Option<Arc<ClientConfig>>) -> Self {
        let slots = config.slots();
        let spare = slots - config.servers.len();
        Group {
            tls: RwLock::new(tls),
            stats: GroupStats::new(slots),
            upstreams: Upstreams::with_slots(config.servers.clone(), spare),
            names: Mutex::new(config.names.iter().map(NameStatus::new).collect()),
            h2: H2Pool::new(
                slots,
                config.max_streams_per_connection,
                (config.keepalive, config.keepalive_timeout),
                config.h2_ping_interval.map(|every| Ping {
                    every,
                    within: config.h2_ping_timeout,
                }),
            ),
            pool: Pool::new(
                slots,
                super::proxy_header::keepalive(&config),
                config.keepalive_timeout,
            ),
            config,
        }
    }

    /// The TLS client config for a new connection, if the group speaks TLS.
    pub fn tls(&self) -> Option<Arc<ClientConfig>> {
        self.tls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes the client config a reload read afresh.
    pub fn renew_tls(&self, tls: Arc<ClientConfig>) {
        *self.tls.write().unwrap_or_else(|p| p.into_inner()) = Some(tls);
    }

    /// The retries a failed request gets: `retries`, else one per other server
    /// listed now.
    pub fn retries(&self) -> usize {
        match self.config.names.is_empty() {
            true => self.config.retries(),
            false => {
                (self.config.retries).unwrap_or_else(|| self.upstreams.listed().saturating_sub(1))
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Records a failure against server `idx` (passive health); says so once when it
    /// leaves rotation.
    pub fn record_failure(&self, idx: usize) {
        let p = self.config.passive;
        if self.upstreams.state(idx).fail(Instant::now(), p) {
            let fails = p.max_fails.max(1);
            let for_ = duration::show(p.fail_timeout);
            let log = format_args!(
                "({}) is down for {for_} after {fails} failure(s)",
                self.config.name
            );
            self.went(idx, false, format!("{fails} failure(s)"), log);
        }
    }

    /// Records a good answer from server `idx` to a request sent to it at `sent`
    /// (passive health); says so when it comes back into rotation.
    pub fn record_success(&self, idx: usize, sent: Instant) {
        if self.upstreams.state(idx).succeed(sent) {
            let log = format_args!("is up again: a request succeeded after it was marked down");
            self.went(idx, true, "a request succeeded".into(), log);
        }
    }

    /// Says that server `idx` left rotation (`up` false) or came back, for passive and
    /// active health alike: one event for the status page (`event` says why) and one
    /// log line, `weir: upstream ADDR` then `log`.
    pub fn went(&self, idx: usize, up: bool, event: String, log: std::fmt::Arguments<'_>) {
        let addr = self.upstreams.addr(idx);
        let what = if up { "up" } else { "down" };
        self.stats.events.note(what, addr.to_string(), event);
        eprintln!("weir: upstream {addr} {log}");
    }
}
