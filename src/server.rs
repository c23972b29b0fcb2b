//! The public face: build a [`Proxy`], bind it, run it until told to stop.
//!
//! ```no_run
//! use weir::{Config, Proxy};
//! let mut config = Config::default();
//! config.listen = "127.0.0.1:8080".parse().unwrap();
//! config.upstreams.push(weir::Upstream { addr: "127.0.0.1:9001".parse().unwrap(), weight: 1 });
//! let server = Proxy::new(config).bind().unwrap();
//! server.run().unwrap(); // until SIGTERM / SIGINT
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_lite::FutureExt;

use crate::config::{Config, ConfigError};
use crate::connection;
use crate::http::parse::HeadLimits;
use crate::middleware::{build, Chain, Middleware};
use crate::proxy::Engine;
use crate::rt::{self, Runtime, TcpListener};
use crate::shutdown::{self, Trigger};
use crate::upstream::pool::Pool;
use crate::upstream::Upstreams;

/// A proxy being put together: a config plus middleware written in Rust.
pub struct Proxy {
    config: Config,
    extra: Vec<Arc<dyn Middleware>>,
    signals: bool,
}

/// Why a proxy could not start.
#[derive(Debug)]
pub enum StartError {
    /// The config (or the chain built from it) is invalid.
    Config(ConfigError),
    /// The listen address could not be bound.
    Bind(SocketAddr, io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => e.fmt(f),
            StartError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

impl Proxy {
    pub fn new(config: Config) -> Self {
        Proxy {
            config,
            extra: Vec::new(),
            signals: true,
        }
    }

    /// Adds a middleware after the configured ones (and before the implicit balancer).
    pub fn middleware(mut self, m: impl Middleware + 'static) -> Self {
        self.extra.push(Arc::new(m));
        self
    }

    /// Whether `run` also stops on SIGTERM / SIGINT (default: yes). Embedders with their
    /// own signal handling, and tests, turn it off and use a [`Handle`].
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.signals = yes;
        self
    }

    /// Builds the chain without binding: what `weir check` runs.
    pub fn chain(&self) -> Result<Chain, ConfigError> {
        self.config.validate()?;
        build::chain(
            &self.config,
            &Upstreams::new(self.config.upstreams.clone()),
            &self.extra,
        )
    }

    /// Validates, builds the chain and binds the listener.
    pub fn bind(self) -> Result<Server, StartError> {
        let chain = self.chain()?;
        let listener =
            rt::bind(self.config.listen).map_err(|e| StartError::Bind(self.config.listen, e))?;
        let local =
            rt::local_addr(&listener).map_err(|e| StartError::Bind(self.config.listen, e))?;
        let (trigger, stop) = shutdown::pair();
        let upstreams = Upstreams::new(self.config.upstreams.clone());
        let engine = Engine {
            pool: Pool::new(
                upstreams.len(),
                self.config.keepalive,
                self.config.keepalive_timeout,
            ),
            limits: HeadLimits {
                max_bytes: self.config.limits.max_header_bytes,
                max_headers: self.config.limits.max_headers,
            },
            config: self.config,
            chain,
            upstreams,
            stop,
        };
        Ok(Server {
            engine: Arc::new(engine),
            listener,
            local,
            trigger,
            signals: self.signals,
        })
    }
}

/// A bound proxy, ready to run.
pub struct Server {
    engine: Arc<Engine>,
    listener: TcpListener,
    local: SocketAddr,
    trigger: Trigger,
    signals: bool,
}

/// Stops a running server from another thread or task.
#[derive(Clone)]
pub struct Handle {
    trigger: Trigger,
    engine: Arc<Engine>,
}

impl Handle {
    /// Begins a graceful shutdown: stop accepting, let in-flight requests finish (up to
    /// `timeouts.drain`), close idle connections.
    pub fn stop(&self) {
        self.trigger.fire();
    }

    /// Upstream connections opened so far (a measure of keep-alive reuse).
    pub fn upstream_connections_opened(&self) -> u64 {
        self.engine.pool.opened()
    }
}

impl Server {
    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn handle(&self) -> Handle {
        Handle {
            trigger: self.trigger.clone(),
            engine: self.engine.clone(),
        }
    }

    /// The chain's middleware names, front to back.
    pub fn chain_names(&self) -> Vec<String> {
        self.engine
            .chain
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    /// Serves until a [`Handle::stop`] or (if enabled) SIGTERM / SIGINT, then drains.
    pub fn run(self) -> io::Result<()> {
        let runtime = Runtime::new();
        let threads = self.engine.config.threads;
        runtime.clone().block_on(threads, self.serve(runtime))
    }

    async fn serve(self, runtime: Runtime) -> io::Result<()> {
        let Server {
            engine,
            listener,
            trigger,
            signals,
            ..
        } = self;
        let (busy, drained) = shutdown::wait_group();
        let permits = Arc::new(rt::Semaphore::new(engine.config.limits.max_connections));
        let accept = async {
            loop {
                let permit = permits.acquire_arc().await;
                let (stream, peer) = match rt::accept(&listener).await {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        eprintln!("weir: accept failed: {e}");
                        rt::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let engine = engine.clone();
                let busy = busy.clone();
                runtime
                    .spawn(async move {
                        let served = AssertUnwindSafe(connection::serve(engine, stream, peer))
                            .catch_unwind()
                            .await;
                        if served.is_err() {
                            eprintln!(
                                "weir: a connection task from {peer} panicked; connection closed"
                            );
                        }
                        drop((busy, permit));
                    })
                    .detach();
            }
        };
        let stop = async {
            let stopped = engine.stop.clone();
            if signals {
                let signal = async {
                    if let Err(e) = rt::termination().await {
                        eprintln!("weir: cannot watch signals: {e}");
                        std::future::pending::<()>().await;
                    }
                };
                signal.or(stopped.fired()).await;
            } else {
                stopped.fired().await;
            }
            Ok::<(), io::Error>(())
        };
        accept.or(stop).await?;
        trigger.fire();
        drop(listener);
        drop(busy);
        if rt::timeout(engine.config.timeouts.drain, drained.wait())
            .await
            .is_none()
        {
            eprintln!("weir: drain timeout reached; closing remaining connections");
        }
        Ok(())
    }
}
