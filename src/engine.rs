//! The engine: everything a request needs that outlives it, built from one config.
//!
//! An engine holds the config, the middleware chain, the upstream servers with their
//! live state, the keep-alive pool and the signals. It is built at start-up and on
//! every reload ([`crate::live`] swaps it); a request takes the engine in force when it
//! starts and keeps it to the end. Nothing here knows about one exchange: the exchange
//! reads the engine, never the other way round.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{duration, Config, ConfigError};
use crate::http::parse::HeadLimits;
use crate::middleware::{build, Chain, Middleware};
use crate::shutdown::{self, Signal, Trigger};
use crate::upstream::pool::Pool;
use crate::upstream::Upstreams;

/// Everything a connection task needs, shared by all of them.
pub(crate) struct Engine {
    pub config: Config,
    pub chain: Chain,
    pub upstreams: Upstreams,
    pub pool: Pool,
    pub limits: HeadLimits,
    /// Fires when weir shuts down.
    pub stop: Signal,
    /// Fires when a reload replaces this engine (stops its health checks).
    pub retire: Trigger,
    pub retired: Signal,
}

impl Engine {
    /// Validates `config` and builds its chain, upstream state and pool. `extra` are the
    /// middleware an embedding program added in code.
    pub fn build(
        config: Config,
        extra: &[Arc<dyn Middleware>],
        stop: Signal,
    ) -> Result<Engine, ConfigError> {
        config.validate()?;
        let upstreams = Upstreams::new(config.upstreams.clone());
        let chain = build::chain(&config, &upstreams, extra)?;
        let (retire, retired) = shutdown::pair();
        Ok(Engine {
            pool: Pool::new(upstreams.len(), config.keepalive, config.keepalive_timeout),
            limits: HeadLimits {
                max_bytes: config.limits.max_header_bytes,
                max_headers: config.limits.max_headers,
            },
            config,
            chain,
            upstreams,
            stop,
            retire,
            retired,
        })
    }

    /// Records a failure against server `idx` (passive health); says so once when it
    /// leaves rotation.
    pub fn record_failure(&self, idx: usize) {
        let p = self.config.passive;
        if self.upstreams.state(idx).fail(Instant::now(), p) {
            eprintln!(
                "weir: upstream {} is down for {} after {} failure(s)",
                self.upstreams[idx].addr,
                duration::show(p.fail_timeout),
                p.max_fails.max(1)
            );
        }
    }

    /// Records a good answer from server `idx` (passive health).
    pub fn record_success(&self, idx: usize) {
        self.upstreams.state(idx).succeed();
    }
}
