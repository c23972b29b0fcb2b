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
use crate::engine::Engine;
use crate::fds;
use crate::live::{Live, Source};
use crate::middleware::{build, Chain, Middleware};
use crate::rt::{self, Runtime, TcpListener};
use crate::shutdown::{self, Trigger};

/// A proxy being put together: a config plus middleware written in Rust.
pub struct Proxy {
    config: Config,
    extra: Vec<Arc<dyn Middleware>>,
    signals: bool,
    source: Option<Source>,
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
            source: None,
        }
    }

    /// Adds a middleware after the configured ones (and before the implicit balancer).
    pub fn middleware(mut self, m: impl Middleware + 'static) -> Self {
        self.extra.push(Arc::new(m));
        self
    }

    /// Whether `run` also stops on SIGTERM / SIGINT and reloads on SIGHUP (default:
    /// yes). Embedders with their own signal handling, and tests, turn it off and use a
    /// [`Handle`].
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.signals = yes;
        self
    }

    /// Where a reload (SIGHUP or [`Handle::reload`]) gets its new config, e.g. a closure
    /// that re-reads the config file. Without one, reloads are refused with a message.
    pub fn reload_from(
        mut self,
        source: impl Fn() -> Result<Config, ConfigError> + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Builds the chain without binding: what `weir check` runs.
    pub fn chain(&self) -> Result<Chain, ConfigError> {
        self.config.validate()?;
        build::chain(&self.config, &self.extra)
    }

    /// Validates, builds the chain and binds the listener. Raises the open-file limit
    /// first (and warns if `max_connections` cannot fit in it): see `fds`.
    pub fn bind(self) -> Result<Server, StartError> {
        fds::prepare(&self.config);
        let (trigger, stop) = shutdown::pair();
        let listen = self.config.listen;
        let engine = Engine::build(self.config, &self.extra, stop, None)?;
        let listener = rt::bind(listen).map_err(|e| StartError::Bind(listen, e))?;
        let local = rt::local_addr(&listener).map_err(|e| StartError::Bind(listen, e))?;
        let (reload, reloads) = async_channel::unbounded();
        Ok(Server {
            live: Arc::new(Live::new(engine, self.extra, self.source)),
            listener,
            local,
            trigger,
            signals: self.signals,
            reload,
            reloads,
        })
    }
}

/// A bound proxy, ready to run.
pub struct Server {
    live: Arc<Live>,
    listener: TcpListener,
    local: SocketAddr,
    trigger: Trigger,
    signals: bool,
    reload: async_channel::Sender<()>,
    reloads: async_channel::Receiver<()>,
}

/// Stops or reloads a running server from another thread or task.
#[derive(Clone)]
pub struct Handle {
    trigger: Trigger,
    live: Arc<Live>,
    reload: async_channel::Sender<()>,
}

impl Handle {
    /// Begins a graceful shutdown: stop accepting, let in-flight requests finish (up to
    /// `timeouts.drain`), close idle connections.
    pub fn stop(&self) {
        self.trigger.fire();
    }

    /// Asks for a reload, as SIGHUP does.
    pub fn reload(&self) {
        let _ = self.reload.try_send(());
    }

    /// Upstream connections opened so far by the groups of the engine in force (a
    /// measure of keep-alive reuse; a group kept across a reload keeps its count).
    pub fn upstream_connections_opened(&self) -> u64 {
        self.live.get().groups.iter().map(|g| g.pool.opened()).sum()
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
            live: self.live.clone(),
            reload: self.reload.clone(),
        }
    }

    /// The chain's middleware names, front to back.
    pub fn chain_names(&self) -> Vec<String> {
        self.live
            .get()
            .chain
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    /// Serves until a [`Handle::stop`] or (if enabled) SIGTERM / SIGINT, then drains.
    pub fn run(self) -> io::Result<()> {
        let runtime = Runtime::new();
        let threads = self.live.get().config.threads;
        runtime.clone().block_on(threads, self.serve(runtime))
    }

    async fn serve(self, runtime: Runtime) -> io::Result<()> {
        let Server {
            live,
            listener,
            trigger,
            signals,
            reload: ask_reload,
            reloads,
            ..
        } = self;
        let (busy, drained) = shutdown::wait_group();
        live.start_background(&runtime);
        let accept = async {
            let mut pause = fds::AcceptPause::default();
            loop {
                let (stream, peer) = match rt::accept(&listener).await {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: wait a little instead of spinning.
                        pause.failed(&e);
                        rt::sleep(fds::ACCEPT_PAUSE).await;
                        continue;
                    }
                };
                pause.worked();
                // At the limit this waits, and asks an idle keep-alive client to make room.
                let seat = live.limit.admit().await;
                let live = live.clone();
                let busy = busy.clone();
                runtime
                    .spawn(async move {
                        let served = AssertUnwindSafe(connection::serve(live, stream, peer, seat))
                            .catch_unwind()
                            .await;
                        if served.is_err() {
                            eprintln!(
                                "weir: a connection task from {peer} panicked; connection closed"
                            );
                        }
                        drop(busy);
                    })
                    .detach();
            }
        };
        let reload = async {
            let hangups = async {
                if signals {
                    if let Err(e) = rt::hangups(|| {
                        let _ = ask_reload.try_send(());
                    })
                    .await
                    {
                        eprintln!("weir: cannot watch SIGHUP: {e}");
                    }
                }
                std::future::pending::<()>().await;
            };
            let asked = async {
                while reloads.recv().await.is_ok() {
                    live.reload(&runtime).await;
                }
                std::future::pending::<()>().await;
            };
            hangups.or(asked).await;
            Ok::<(), io::Error>(())
        };
        let stop = async {
            let stopped = live.stop().clone();
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
        accept.or(reload).or(stop).await?;
        trigger.fire();
        drop(listener);
        drop(busy);
        if rt::timeout(live.get().config.timeouts.drain, drained.wait())
            .await
            .is_none()
        {
            eprintln!("weir: drain timeout reached; closing remaining connections");
        }
        Ok(())
    }
}
