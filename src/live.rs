//! The engine in force, swappable at run time: how `SIGHUP` reloads work.
//!
//! Every request takes the current [`Engine`] when it starts and keeps it to the end,
//! so a reload applies to new requests while in-flight ones finish on the old chain and
//! upstreams. The connection limit and the shutdown signal outlive reloads, and
//! `threads` and `admin.listen` need a restart (a reload that changes them says so);
//! the server then makes its listeners match the new `listen` (see `listeners`), and
//! TLS listeners take the new certificates, keys and settings for their next
//! handshakes. A config that fails validation is
//! refused with a message, and the old one keeps serving (nginx's reload promise).

use std::sync::{Arc, RwLock};

use crate::admission::Limit;
use crate::config::{Config, ConfigError};
use crate::downstream::h2::StreamBound;
use crate::engine::Engine;
use crate::middleware::Middleware;
use crate::rt::Runtime;
use crate::shutdown::Signal;
use crate::upstream::health;
use crate::upstream::pool;

/// Where a reload gets its new config (the CLI re-reads the file and re-applies flags).
pub type Source = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// The current engine plus what a reload needs to build the next one.
pub(crate) struct Live {
    current: RwLock<Arc<Engine>>,
    extra: Vec<Arc<dyn Middleware>>,
    source: Option<Source>,
    stop: Signal,
    /// `max_connections` (or fewer, to fit the open-file limit: `fds`), fixed at
    /// start-up: who gets a seat (see `admission`).
    pub(crate) limit: Arc<Limit>,
    /// `limits.max_streams` (by default as many as the seats), fixed at start-up like
    /// the seats: the HTTP/2 streams open at once (see `downstream::h2::streams`).
    pub(crate) streams: Arc<StreamBound>,
}

impl Live {
    /// The live engine, holding `seats` clients at once.
    pub fn new(
        engine: Engine,
        seats: usize,
        extra: Vec<Arc<dyn Middleware>>,
        source: Option<Source>,
    ) -> Self {
        Live {
            stop: engine.stop.clone(),
            limit: Limit::new(seats),
            streams: StreamBound::new(engine.config.limits.max_streams_or(seats)),
            current: RwLock::new(Arc::new(engine)),
            extra,
            source,
        }
    }

    /// The engine for a request starting now.
    pub fn get(&self) -> Arc<Engine> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stop(&self) -> &Signal {
        &self.stop
    }

    /// Starts the current engine's background tasks: the pool's reaper, and the active
    /// health checks if configured. They end when the engine is retired by a reload.
    pub fn start_background(&self, runtime: &Runtime) {
        let engine = self.get();
        runtime.spawn(reap(engine.clone())).detach();
        let pools = Arc::downgrade(&engine);
        crate::quiet::also_trim(move || {
            let Some(engine) = pools.upgrade() else {
                return false;
            };
            engine
                .groups
                .iter()
                .for_each(|g| g.pool.free_idle_buffers());
            true
        });
        for group in &engine.groups {
            let failed = Arc::downgrade(group);
            group.h2.run_on(
                runtime,
                Arc::new(move |i| {
                    if let Some(group) = failed.upgrade() {
                        group.record_failure(i);
                    }
                }),
            );
            let Some(h) = &group.config.health else {
                continue;
            };
            for i in 0..group.upstreams.len() {
                let task = health::watch(group.clone(), i, h.clone(), engine.retired.clone());
                runtime.spawn(task).detach();
            }
        }
    }

    /// Re-reads the config and swaps engines; on any error the old engine stays. Says
    /// what it did (or why not), for the admin API, and counts it in the metrics.
    pub async fn reload(self: &Arc<Self>, runtime: &Runtime) -> Result<String, String> {
        let result = self.swap(runtime).await;
        let metrics = &self.get().stats.metrics;
        metrics.reloaded(&self.get().config.source, &result);
        result
    }

    /// The new engine is built on a thread of its own: reading files, loading plugins
    /// and their child-process check (up to `timeouts.plugin_check`) block, and must not
    /// hold up the accept loop or the connections sharing the executor.
    async fn swap(self: &Arc<Self>, runtime: &Runtime) -> Result<String, String> {
        if self.source.is_none() {
            let why = "reload requested, but this proxy was not started from a config file";
            eprintln!("weir: {why}");
            return Err(why.into());
        }
        let (tx, rx) = async_channel::bounded(1);
        let live = self.clone();
        let build = move || {
            let source = live.source.as_ref().expect("checked above");
            let previous = live.get();
            let next = source().and_then(|config| {
                Engine::build(config, &live.extra, live.stop.clone(), Some(&previous))
            });
            let _ = tx.send_blocking(next);
        };
        if let Err(e) = std::thread::Builder::new()
            .name("weir-reload".into())
            .spawn(build)
        {
            let why = format!("no thread: {e}");
            eprintln!("weir: reload failed, still serving the previous config: {why}");
            return Err(why);
        }
        let Ok(next) = rx.recv().await else {
            let why = "the build panicked";
            eprintln!("weir: reload failed, still serving the previous config: {why}");
            return Err(why.into());
        };
        match next {
            Ok(next) => {
                let chain: Vec<&str> = next.chain.iter().map(|m| m.name()).collect();
                let servers: usize = next.groups.iter().map(|g| g.upstreams.listed()).sum();
                let what = format!(
                    "{} upstream(s) in {} group(s), {} route(s), chain: {}",
                    servers,
                    next.groups.len(),
                    next.routes.list.len(),
                    chain.join(" → ")
                );
                say_what_needs_a_restart(&self.get().config, &next.config);
                let source = next.config.source.clone();
                let old = std::mem::replace(
                    &mut *self.current.write().unwrap_or_else(|p| p.into_inner()),
                    Arc::new(next),
                );
                // Said once it is true: a request that starts after the line is on the
                // new engine.
                eprintln!("weir: reloaded {source}: {what}");
                old.retire.fire();
                self.start_background(runtime);
                Ok(what)
            }
            Err(e) => {
                eprintln!("weir: reload failed, still serving the previous config: {e}");
                Err(e.to_string())
            }
        }
    }
}

/// Logs the settings a reload read but cannot apply to a running process (the executor's
/// threads are started once, the admin listener is bound once), each with its old and
/// new value, so a changed file is never silently half applied.
fn say_what_needs_a_restart(was: &Config, now: &Config) {
    let threads = |n: usize| match n {
        0 => "0 (one per CPU)".to_string(),
        n => n.to_string(),
    };
    if was.threads != now.threads {
        eprintln!(
            "weir: threads changed from {} to {}; it takes effect on restart (still running {})",
            threads(was.threads),
            threads(now.threads),
            threads(was.threads)
        );
    }
    let admin = |c: &Config| c.admin.as_ref().map(|a| a.listen);
    if admin(was) != admin(now) {
        eprintln!("weir: admin.listen changed; it takes effect on restart");
    }
    if was.limits.max_streams != now.limits.max_streams {
        eprintln!("weir: limits.max_streams changed; it takes effect on restart");
    }
}

/// Reaps `engine`'s idle upstream connections every [`pool::REAP_EVERY`] until it is
/// retired.
async fn reap(engine: Arc<Engine>) {
    while !engine.retired.fires_within(pool::REAP_EVERY).await {
        for group in &engine.groups {
            group.pool.reap();
            group.h2.reap();
        }
    }
}
