//! The listening sockets of a running server, one accept task each, and how a reload
//! changes them.
//!
//! At start-up every `listen` entry is bound (a failure stops the start), or takes the
//! socket systemd passed for its address (socket activation: [`crate::systemd`]). On a reload
//! that changes `listen`, the listeners are made to match the new list: an entry that is
//! gone (or switched between plain and TLS) stops accepting at once, and its open
//! connections finish as they would in a drain; a new entry is bound and starts
//! accepting. A new address that cannot be bound is logged and skipped, and the rest of
//! the reload stands. Listeners are known by their configured address, so an entry on
//! port 0 is the same listener across reloads. `threads` still needs a restart.
//!
//! With more than one thread (and an executor that places tasks: `rt`'s contract,
//! "Placement"), each `listen` address gets one listening socket per thread, bound with
//! `SO_REUSEPORT`, and each thread runs the accept loop of its own socket: the kernel
//! spreads new connections over the threads, and the thread whose reactor saw a
//! connection accepts it and queues it on itself, as nginx's `reuseport` workers do,
//! instead of every thread being woken for one shared socket. The address is still
//! held exclusively (another process binding it is refused, as before, unless the entry
//! sets `reuse_port`). A socket systemd passes is one socket: it stays one, shared. An
//! upgrade hands over every socket of a group; the new process accepts on all of them.
//!
//! Each connection carries the [`ListenerId`] of the listener that accepted it (see
//! [`crate::listener_id`]).

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_lite::FutureExt;

use crate::config::{Limits, Listener};
use crate::connection;
use crate::fds;
use crate::listener_id::ListenerId;
use crate::live::Live;
use crate::rt::{self, Runtime, Task, TcpListener};
use crate::shutdown::Busy;
use crate::systemd::activation::Inherited;
use crate::upgrade::wire::Passed;

/// One bound `listen` entry (its sockets: one per thread, or one shared), before its
/// accept tasks start.
pub(crate) struct Bound {
    pub listeners: Vec<TcpListener>,
    pub id: ListenerId,
    /// The address actually bound.
    pub local: SocketAddr,
}

impl Bound {
    /// Binds entry `index` of `listen` as `sockets` sockets (one per thread; see the
    /// module docs), with room for `backlog` clients not yet accepted on each.
    pub fn bind(index: usize, l: &Listener, backlog: u32, sockets: usize) -> io::Result<Bound> {
        let listeners = match sockets {
            0 | 1 => vec![rt::bind_with(l.addr, backlog, l.reuse_port)?],
            n => rt::bind_group(l.addr, backlog, n, l.reuse_port)?,
        };
        Bound::on(index, l, listeners)
    }

    /// Entry `index` of `listen` on the sockets passed for its address (systemd's one,
    /// or those an upgrade handed over: see [`crate::systemd`]), if any were; else
    /// bound here, as [`Bound::bind`] does.
    pub fn open(
        index: usize,
        l: &Listener,
        backlog: u32,
        sockets: usize,
        inherited: &mut Inherited,
    ) -> io::Result<Bound> {
        let passed = inherited.claim_all(l.addr);
        if passed.is_empty() {
            return Bound::bind(index, l, backlog, sockets);
        }
        let adopted = passed.into_iter().map(rt::adopt);
        Bound::on(index, l, adopted.collect::<io::Result<_>>()?)
    }

    fn on(index: usize, l: &Listener, listeners: Vec<TcpListener>) -> io::Result<Bound> {
        let local = rt::local_addr(&listeners[0])?;
        let tls = l.tls.is_some();
        let id = ListenerId {
            // Past u32::MAX entries (never), the engine finds it by address instead.
            index: u32::try_from(index).unwrap_or(u32::MAX),
            addr: l.addr,
            tls,
        };
        Ok(Bound {
            listeners,
            id,
            local,
        })
    }
}

/// What every accept task shares.
pub(crate) struct Shared {
    pub live: Arc<Live>,
    pub busy: Busy,
    pub runtime: Runtime,
    /// Sockets bound per new address (`rt::listeners_per_address`).
    pub sockets: usize,
}

struct Running {
    id: ListenerId,
    /// One accept task per socket of the entry.
    tasks: Vec<Task<()>>,
    /// A second descriptor for each socket, to hand to a new process in an upgrade
    /// (none if it could not be made: that listener is then bound anew there).
    shared: Vec<Passed>,
}

/// The accept tasks of a running server. The list is locked only between awaits.
pub(crate) struct Listeners {
    shared: Shared,
    running: Mutex<Vec<Running>>,
}

impl Listeners {
    pub fn new(shared: Shared) -> Self {
        Listeners {
            shared,
            running: Mutex::new(Vec::new()),
        }
    }

    fn running(&self) -> MutexGuard<'_, Vec<Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts accepting on every bound listener.
    pub fn start(&self, bound: Vec<Bound>) {
        for b in bound {
            self.spawn(b);
        }
    }

    /// Starts one accept task per socket of `b`: socket `k` on thread `k` when there
    /// are several (one per thread), a lone shared one wherever the executor runs it.
    fn spawn(&self, b: Bound) {
        let s = &self.shared;
        let (id, local) = (b.id, b.local);
        let placed = b.listeners.len() > 1;
        let mut running = Running {
            id,
            tasks: Vec::with_capacity(b.listeners.len()),
            shared: Vec::with_capacity(b.listeners.len()),
        };
        for (k, listener) in b.listeners.into_iter().enumerate() {
            match rt::share(&listener) {
                Ok(socket) => running.shared.push(Passed {
                    named: id.addr,
                    local,
                    socket,
                }),
                Err(e) => eprintln!(
                    "weir: {}: no descriptor to hand over: {e}",
                    show(local, id.tls)
                ),
            }
            let thread = placed.then_some(k);
            let accept = Accept {
                listener,
                id,
                thread,
            };
            let accept = accept_loop(accept, s.live.clone(), s.busy.clone(), s.runtime.clone());
            running.tasks.push(match thread {
                Some(k) => s.runtime.spawn_on(k, accept),
                None => s.runtime.spawn(accept),
            });
        }
        self.running().push(running);
    }

    /// A descriptor for each listening socket, for the new process of an upgrade.
    pub fn handover(&self) -> Vec<Passed> {
        let running = self.running();
        let shared = running.iter().flat_map(|r| r.shared.iter());
        shared.filter_map(|p| p.try_clone().ok()).collect()
    }

    /// Makes the listeners match `listen` (after a reload): closes those no longer
    /// listed, then binds the new ones with `limits.listen_backlog` (a listener kept
    /// keeps the backlog it was bound with).
    pub async fn apply(&self, listen: &[Listener], limits: &Limits) {
        let wanted = |r: &Running| listen.iter().any(|l| r.id.is(l));
        let gone: Vec<Running> = {
            let mut running = self.running();
            let (keep, gone) = std::mem::take(&mut *running).into_iter().partition(wanted);
            *running = keep;
            gone
        };
        for r in gone {
            for task in r.tasks {
                task.cancel().await; // drops its socket: no more accepts there
            }
            eprintln!(
                "weir: reload: stopped listening on {} (its open connections finish)",
                show(r.id.addr, r.id.tls)
            );
        }
        for (i, l) in listen.iter().enumerate() {
            let tls = l.tls.is_some();
            if self.running().iter().any(|r| r.id.is(l)) {
                continue;
            }
            match Bound::bind(i, l, backlog(limits), self.shared.sockets) {
                Ok(b) => {
                    eprintln!("weir: reload: listening on {}", show(b.local, tls));
                    self.spawn(b);
                }
                Err(e) => eprintln!(
                    "weir: reload: cannot listen on {}: {e}; the rest of the reload applies",
                    show(l.addr, tls)
                ),
            }
        }
    }

    /// Stops accepting everywhere (cancelling a task drops its listener).
    pub async fn close(&self) {
        let all = std::mem::take(&mut *self.running());
        for task in all.into_iter().flat_map(|r| r.tasks) {
            task.cancel().await;
        }
    }
}

/// The listen backlog in force: `limits.listen_backlog`, or the host's cap
/// (`net.core.somaxconn`) when that is lower, which is then said on stderr, since the
/// kernel lowers it without a word and bursts past it lose their SYNs.
pub(crate) fn backlog(limits: &Limits) -> u32 {
    let asked = limits.listen_backlog;
    match rt::somaxconn() {
        Some(cap) if cap < asked => {
            eprintln!(
                "weir: limits.listen_backlog = {asked} is capped at {cap} by \
                 net.core.somaxconn; raise it (sysctl) for bursts of more clients"
            );
            cap
        }
        _ => asked,
    }
}

fn show(addr: SocketAddr, tls: bool) -> String {
    match tls {
        true => format!("https://{addr}"),
        false => format!("http://{addr}"),
    }
}

/// One listening socket's accept loop, before it starts.
struct Accept {
    listener: TcpListener,
    id: ListenerId,
    /// The thread it runs on, when each thread has a socket of its own.
    thread: Option<usize>,
}

/// Accepts connections on one listening socket until cancelled, each served on a task
/// of its own: a TLS listener's connections begin with the handshake, under the TLS
/// config of the engine in force (a reload's new certificates apply to the next
/// handshake). Every socket's loop shares the connection limit: at it, each waits for a
/// client in its own backlog, and holds at most the one it accepted until a seat frees.
async fn accept_loop(accept: Accept, live: Arc<Live>, busy: Busy, runtime: Runtime) {
    let Accept {
        listener,
        id,
        thread,
    } = accept;
    let mut pause = fds::AcceptPause::default();
    // The listener's last TLS config, kept should an engine lack it.
    let mut tls = match id.tls {
        true => live.get().tls_for(id),
        false => None,
    };
    // Shared by every engine a reload makes, so one handle serves for the loop's life.
    let metrics = live.get().stats.metrics.clone();
    loop {
        if live.limit.is_full() {
            // At the limit new clients stay in the listen backlog; once one is there,
            // an idle keep-alive client is asked to make room for it.
            if let Err(e) = rt::pending(&listener).await {
                pause.failed(&e);
                rt::sleep(fds::ACCEPT_PAUSE).await;
                continue;
            }
            live.limit.make_room().await;
        }
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
        if let Some(k) = thread {
            metrics.accepted_on_thread(k);
        }
        let seat = live.limit.admit().await;
        if id.tls {
            tls = live.get().tls_for(id).or(tls);
        }
        let incoming = connection::Incoming {
            tcp: stream,
            peer,
            id,
            tls: tls.clone(),
            seat,
            held: connection::Held {
                busy: busy.clone(),
                counted: metrics.connection(),
                open: crate::open_clients::Counted::new(),
                peer,
            },
        };
        // The connection's own future, with no `async` block around it: such a block
        // would hold a second copy of it (see `connection::accepted`).
        let task = connection::accepted(live.clone(), incoming, runtime.clone());
        runtime
            .spawn(AssertUnwindSafe(task).catch_unwind())
            .detach();
    }
}
