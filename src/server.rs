//! The public face: build a [`Proxy`], bind it, run it until told to stop.
//!
//! ```no_run
//! use weir::{Config, Proxy};
//! let mut config = Config::default();
//! config.listen = vec!["127.0.0.1:8080".parse::<std::net::SocketAddr>().unwrap().into()];
//! config.upstream.servers.push(weir::Upstream { addr: "127.0.0.1:9001".parse().unwrap(), weight: 1 });
//! let server = Proxy::new(config).bind().unwrap();
//! server.run().unwrap(); // until SIGTERM / SIGINT
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_lite::FutureExt;

use crate::admin;
use crate::config::{Config, ConfigError};
use crate::engine::Engine;
use crate::fds;
use crate::listeners::{self, Bound, Listeners, Shared};
use crate::live::{Live, Source};
use crate::middleware::{build, log, Chain, Middleware};
use crate::privileges;
use crate::rt::{self, Runtime, TcpListener};
use crate::shutdown::{self, Signal, Trigger};
use crate::systemd::{self, activation::Inherited};
use crate::upgrade::{self, wire::Passed};

/// The admin listener's backlog: std's, for a few operators and scrapers.
const ADMIN_BACKLOG: u32 = 128;

/// A proxy being put together: a config plus middleware written in Rust.
pub struct Proxy {
    config: Config,
    extra: Vec<Arc<dyn Middleware>>,
    signals: bool,
    source: Option<Source>,
    upgrade: Option<upgrade::Plan>,
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
            upgrade: None,
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

    /// What SIGUSR2 starts to take over the listening sockets (see [`crate::upgrade`]):
    /// the `weir` command gives its own binary and arguments. Without one (or with
    /// signals off) SIGUSR2 is not caught.
    pub fn upgrade_from(mut self, plan: upgrade::Plan) -> Self {
        self.upgrade = Some(plan);
        self
    }

    /// Builds the chain without binding: what `weir check` runs.
    pub fn chain(&self) -> Result<Chain, ConfigError> {
        self.config.validate()?;
        privileges::check_names(&self.config.privileges, &self.config.source)?;
        // With `user` set, serve loads plugins only once it is that user.
        if self.config.privileges.user.is_none() {
            privileges::check_plugins(&self.config)?;
        }
        build::chain(&self.config, &self.extra)
    }

    /// Validates, builds the chain and binds the listener. Raises the open-file limit
    /// first (and warns if `max_connections` cannot fit in it): see `fds`.
    ///
    /// The order matters when weir starts as root: listeners are bound (or taken from
    /// systemd) first, then privileges are dropped to `user`, and only then are TLS keys
    /// read and plugins loaded, so no plugin ever runs as root and a start that works
    /// proves that reloads (which run as `user`) can read the same files.
    pub fn bind(self) -> Result<Server, StartError> {
        systemd::notify::init();
        let mut inherited = Inherited::take();
        self.config.validate()?;
        let seats = fds::prepare(&self.config);
        let (trigger, stop) = shutdown::pair();
        let (ask_stop, stop_asked) = shutdown::pair();
        let backlog = listeners::backlog(&self.config.limits);
        let sockets = rt::listeners_per_address(self.config.threads);
        let mut listeners = Vec::with_capacity(self.config.listen.len());
        for (i, l) in self.config.listen.iter().enumerate() {
            let bound = Bound::open(i, l, backlog, sockets, &mut inherited);
            listeners.push(bound.map_err(|e| StartError::Bind(l.addr, e))?);
        }
        let admin = match &self.config.admin {
            Some(a) => Some(bind_admin(a.listen, &mut inherited)?),
            None => None,
        };
        inherited.close_unclaimed();
        privileges::drop_to_user(&self.config.privileges, &self.config.source)?;
        let engine = Engine::build(self.config, &self.extra, stop, None)?;
        let (reload, reloads) = async_channel::unbounded();
        // Caught from now on: the caller may announce the server right after `bind`.
        let watch = |made: io::Result<rt::Caught>, what: &str| match made {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("weir: cannot watch {what}: {e}");
                None
            }
        };
        let (hangups, terminations) = match self.signals {
            true => (
                watch(rt::Caught::hangups(), "SIGHUP"),
                watch(rt::Caught::termination(), "SIGTERM and SIGINT"),
            ),
            false => (None, None),
        };
        let upgrades = match (self.signals, self.upgrade) {
            (true, Some(plan)) => watch(rt::Caught::upgrades(), "SIGUSR2").map(|w| (w, plan)),
            _ => None,
        };
        let admin_handover = admin.as_ref().and_then(|(listener, local)| {
            let named = engine.config.admin.as_ref().map_or(*local, |a| a.listen);
            let socket = rt::share(listener).ok()?;
            Some(Passed {
                named,
                local: *local,
                socket,
            })
        });
        Ok(Server {
            live: Arc::new(Live::new(engine, seats, self.extra, self.source)),
            listeners,
            admin,
            trigger,
            ask_stop,
            stop_asked,
            hangups,
            terminations,
            upgrades,
            admin_handover,
            reload,
            reloads,
        })
    }
}

/// The admin listener on `at`: systemd's socket for it, if it passed one, else bound.
fn bind_admin(
    at: SocketAddr,
    inherited: &mut Inherited,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let failed = |e| StartError::Bind(at, e);
    let listener = match inherited.claim(at) {
        Some(socket) => rt::adopt(socket),
        None => rt::bind(at, ADMIN_BACKLOG),
    };
    let listener = listener.map_err(failed)?;
    let local = rt::local_addr(&listener).map_err(failed)?;
    Ok((listener, local))
}

/// A bound proxy, ready to run.
pub struct Server {
    live: Arc<Live>,
    listeners: Vec<Bound>,
    /// The `[admin]` listener and its bound address, when configured.
    admin: Option<(TcpListener, SocketAddr)>,
    /// Fired once the listeners are closed: every connection drains from then on.
    trigger: Trigger,
    /// [`Handle::stop`]'s request to stop, kept apart from `trigger` so a stop from the
    /// library closes the listeners before the drain begins, as a SIGTERM does.
    ask_stop: Trigger,
    stop_asked: Signal,
    /// SIGHUP and SIGTERM/SIGINT, when the proxy handles signals.
    hangups: Option<rt::Caught>,
    terminations: Option<rt::Caught>,
    /// SIGUSR2 and what it starts, when upgrades are on.
    upgrades: Option<(rt::Caught, upgrade::Plan)>,
    /// The admin listener's socket, to hand over in an upgrade.
    admin_handover: Option<Passed>,
    reload: async_channel::Sender<()>,
    reloads: async_channel::Receiver<()>,
}

/// Stops or reloads a running server from another thread or task.
#[derive(Clone)]
pub struct Handle {
    ask_stop: Trigger,
    live: Arc<Live>,
    reload: async_channel::Sender<()>,
}

impl Handle {
    /// Begins a graceful shutdown: stop accepting, let in-flight requests finish (up to
    /// `timeouts.drain`), close idle connections. The drain begins once the listeners
    /// are closed.
    pub fn stop(&self) {
        self.ask_stop.fire();
    }

    /// Asks for a reload, as SIGHUP does.
    pub fn reload(&self) {
        let _ = self.reload.try_send(());
    }

    /// TLS handshakes that failed since start-up (timeouts, alerts, plain HTTP sent to
    /// a TLS listener, garbage).
    pub fn tls_handshake_failures(&self) -> u64 {
        self.live.get().handshakes.failed()
    }

    /// Upstream connections opened so far by the groups of the engine in force (a
    /// measure of keep-alive reuse; a group kept across a reload keeps its count).
    pub fn upstream_connections_opened(&self) -> u64 {
        self.live.get().groups.iter().map(|g| g.pool.opened()).sum()
    }
}

impl Server {
    /// The address the first listener actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.listeners[0].local
    }

    /// Every listener's bound address, in the order of `listen`.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|b| b.local).collect()
    }

    /// The admin listener's bound address, when `[admin]` is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, a)| *a)
    }

    pub fn handle(&self) -> Handle {
        Handle {
            ask_stop: self.ask_stop.clone(),
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
            listeners,
            trigger,
            // Held to the end: a channel whose every sender is gone reads as fired.
            ask_stop: _ask_stop,
            stop_asked,
            hangups,
            terminations,
            reload: ask_reload,
            reloads,
            admin,
            upgrades,
            admin_handover,
            ..
        } = self;
        let (busy, drained) = shutdown::wait_group();
        live.start_background(&runtime);
        crate::quiet::start(&runtime, live.get().config.threads);
        let admin = admin::serve(admin.map(|(l, _)| l), live.clone(), runtime.clone());
        // One accept task per listener, all sharing the connection limit.
        let shared = Shared {
            live: live.clone(),
            busy: busy.clone(),
            runtime: runtime.clone(),
            sockets: rt::listeners_per_address(live.get().config.threads),
        };
        let accepting = Listeners::new(shared);
        accepting.start(listeners);
        systemd::notify::ready();
        upgrade::inherit::ready();
        let reload = async {
            let hangups = async {
                if let Some(mut watch) = hangups {
                    loop {
                        watch.next().await;
                        let _ = ask_reload.try_send(());
                    }
                }
                std::future::pending::<()>().await;
            };
            let asked = async {
                while reloads.recv().await.is_ok() {
                    log::flush_all(); // a rotated log file gets every line from before
                    systemd::notify::reloading();
                    if live.reload(&runtime).await.is_ok() {
                        let e = live.get();
                        accepting.apply(&e.config.listen, &e.config.limits).await;
                    }
                    // Serving again, the new config or (the reload failed) the old one.
                    systemd::notify::ready();
                }
                std::future::pending::<()>().await;
            };
            hangups.or(asked).await;
            Ok::<(), io::Error>(())
        };
        let stop = async {
            match terminations {
                Some(mut watch) => watch.next().or(stop_asked.fired()).await,
                None => stop_asked.fired().await,
            }
            Ok::<(), io::Error>(())
        };
        let upgraded = async {
            let Some((watch, plan)) = upgrades else {
                return std::future::pending().await;
            };
            let sockets = || {
                let mut all = accepting.handover();
                all.extend(admin_handover.as_ref().and_then(|a| a.try_clone().ok()));
                all
            };
            let limit = || live.get().config.timeouts.upgrade;
            upgrade::upgrade_on_signal(watch, plan, sockets, limit).await;
            Ok::<(), io::Error>(())
        };
        reload.or(admin).or(stop).or(upgraded).await?;
        systemd::notify::stopping();
        // Listeners first: a connection accepted after the signal would be one the
        // drain treats as idle (in an upgrade, the new process takes them instead).
        accepting.close().await;
        trigger.fire();
        // The idle keep-alive connections find the signal fired when woken: they hold
        // no listener on it (see `Limit::wake_idle`).
        live.limit.wake_idle();
        drop((accepting, busy)); // the drain waits for every `Busy`, these included
        if rt::timeout(live.get().config.timeouts.drain, drained.wait())
            .await
            .is_none()
        {
            eprintln!("weir: drain timeout reached; closing remaining connections");
        }
        log::flush_all();
        Ok(())
    }
}
