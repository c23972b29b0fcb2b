//! The runtime boundary: the only module that names smol, async-io, epoll or tokio.
//!
//! Everything else is written against `futures-lite`'s `AsyncRead`/`AsyncWrite` and the
//! functions here (spawn, listen, connect, timers, signals), so the proxy core can be
//! rebuilt on another executor and compared like for like.
//!
//! On Linux, tasks run on weir's own executor (`lean_executor.rs`: a run queue per
//! worker thread, with stealing) and sockets and timers on weir's own edge-triggered
//! epoll reactor (`epoll/`), one per worker thread, which spends no system call to
//! re-arm a socket between reads; elsewhere, or with the `portable-runtime` feature, on
//! smol's executor (`smol_executor.rs`) and smol's portable reactor (`portable.rs`). Signals go
//! through async-signal on both (`signals.rs`). With the `tokio-runtime` feature,
//! tasks, sockets, timers and signals all run on tokio (`tokio_rt/`).
//!
//! # The backend contract
//!
//! Written as Rust in [`contract`]: a backend implements [`Backend`] (sockets, timers,
//! signals, the scheduling hint, the blocking loop) and names an [`Executor`] (tasks
//! and threads), keeping the rules written there; `tests/rt_conformance.rs` checks them
//! against whichever backend the build picked. `cfg` picks one as [`Chosen`], and the
//! functions and types below forward to it statically: the hot path pays no `dyn`.
//!
//! Everything else here (`timeout`, `sleep`, [`Runtime`], [`Task`], [`Caught`]) is
//! built on the contract alone and stays the same for every backend. The public API
//! names no smol type, and the connection limit's semaphore (async-lock's, which runs
//! on any executor) is internal.

/// `AsyncRead + AsyncWrite` for a backend's owned stream type, forwarded to its shared
/// reference (reads and writes take `&self` in every backend, as the contract asks): one
/// definition instead of the same forwarding impls in each backend.
macro_rules! io_by_ref {
    ($t:ty) => {
        impl futures_lite::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_read_vectored(cx, bufs)
            }
        }

        impl futures_lite::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_flush(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}

#[cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
#[path = "epoll/mod.rs"]
mod imp;
#[cfg(all(
    any(not(target_os = "linux"), feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
#[path = "portable.rs"]
mod imp;
#[cfg(feature = "tokio-runtime")]
#[path = "tokio_rt/mod.rs"]
mod imp;

mod batch;
pub mod contract;
#[cfg(not(feature = "tokio-runtime"))]
mod gate;
#[cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
mod lean_executor;
mod limits;
mod listen;
#[cfg(not(feature = "tokio-runtime"))]
mod signals;
#[cfg(all(
    any(not(target_os = "linux"), feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
mod smol_executor;
mod timeout;
#[cfg(not(feature = "tokio-runtime"))]
mod workers;

pub use batch::Batch;
pub use contract::{Backend, Executor, Signal};
/// splice(2) between plain TCP sockets: only on the epoll backend, whose sockets are
/// weir's own; elsewhere `take` never gives a pipe and `http::splice` copies.
#[cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
pub(crate) use imp::splice;
#[cfg(not(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
)))]
#[path = "no_splice.rs"]
pub(crate) mod splice;
pub use limits::{is_local_resource_error, local_shortage, raise_fd_limit, FdLimit};
pub use listen::somaxconn;
pub use timeout::{timeout, Timeout};

/// The allocator the `weir` binary installs with the `mimalloc` feature (on by default;
/// `--no-default-features` leaves the system's); an embedding
/// program chooses its own. mimalloc returns freed pages to the system shortly after a
/// burst, where glibc's malloc keeps most of the peak (bench/README.md, "Memory after a
/// burst").
#[cfg(feature = "mimalloc")]
pub use mimalloc::MiMalloc as Allocator;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The backend this build runs on: weir's epoll reactor on Linux by default.
#[cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
pub type Chosen = imp::Epoll;
/// The backend this build runs on: async-io's portable reactor.
#[cfg(all(
    any(not(target_os = "linux"), feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
pub type Chosen = imp::Portable;
/// The backend this build runs on: tokio (work in progress).
#[cfg(feature = "tokio-runtime")]
pub type Chosen = imp::Tokio;

/// Whether this build runs on the default backend (weir's executor and epoll reactor),
/// the one weir ships and measures: size guards outside `rt` hold it to its own bounds.
pub const DEFAULT_BACKEND: bool = cfg!(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
));

type Exec = <Chosen as Backend>::Executor;

/// The number of threads a `threads` setting means: itself, or one per CPU for 0.
pub fn worker_threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// How many listening sockets weir binds per `listen` address with `threads` threads:
/// one per thread where the executor places tasks (each thread accepts on its own,
/// `SO_REUSEPORT`; see the contract's "Placement" rule), else one, shared.
pub fn listeners_per_address(threads: usize) -> usize {
    match Exec::PLACES_TASKS {
        true => worker_threads(threads),
        false => 1,
    }
}

/// Binds `count` listening sockets on `addr` that share it with `SO_REUSEPORT`, one per
/// thread (see [`listeners_per_address`]). Unless `others_may_join` (`listen.reuse_port`),
/// the address must be free: a socket without `SO_REUSEPORT` holds it while the group
/// binds, so a port another process listens on (another weir included) is refused as
/// a plain bind would be, and port 0 resolves to one port for the whole group.
pub fn bind_group(
    addr: SocketAddr,
    backlog: u32,
    count: usize,
    others_may_join: bool,
) -> io::Result<Vec<TcpListener>> {
    let sockets = listen::group(addr, backlog, count, others_may_join)?;
    sockets.into_iter().map(Chosen::adopt).collect()
}

/// A non-blocking TCP stream; it and `&TcpStream` are both `AsyncRead + AsyncWrite`.
pub type TcpStream = <Chosen as Backend>::TcpStream;
/// A non-blocking TCP listener.
pub type TcpListener = <Chosen as Backend>::TcpListener;

/// Binds a listener with room for `backlog` connections not yet accepted.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    Chosen::bind(addr, backlog)
}

/// Binds a listener that other sockets may share with `SO_REUSEPORT` (see
/// `listen.reuse_port`); with `reuse_port` false, as [`bind`].
pub fn bind_with(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    match reuse_port {
        true => Chosen::adopt(listen::listener_with(addr, backlog, true)?),
        false => Chosen::bind(addr, backlog),
    }
}

/// A second descriptor for `listener`'s socket (close-on-exec), to hand to another
/// process in an upgrade while this one still accepts on the first.
pub fn share(listener: &TcpListener) -> io::Result<std::net::TcpListener> {
    Chosen::listener_std(listener).try_clone()
}

/// A listening socket made elsewhere (socket activation), as this runtime's listener.
pub fn adopt(listener: std::net::TcpListener) -> io::Result<TcpListener> {
    Chosen::adopt(listener)
}

/// Accepts one connection, with Nagle off.
pub fn accept(
    listener: &TcpListener,
) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send + '_ {
    Chosen::accept(listener)
}

/// Waits until a connection is waiting to be accepted, without accepting it.
pub fn pending(listener: &TcpListener) -> impl Future<Output = io::Result<()>> + Send + '_ {
    Chosen::pending(listener)
}

/// Connects to `addr`, with Nagle off.
pub fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send {
    Chosen::connect(addr)
}

/// Waits until `stream` has bytes (or EOF) to read; it may wake spuriously.
pub fn readable(stream: &TcpStream) -> impl Future<Output = ()> + Send + '_ {
    Chosen::readable(stream)
}

/// Parks the task until this batch of ready tasks has run, then resumes it in `batch`'s
/// order, so writes leave grouped ([`Batch`]; on the epoll backend,
/// `epoll/block_on.rs` says what it bought). Elsewhere a yield.
pub fn end_of_batch(batch: Batch) -> impl Future<Output = ()> + Send {
    Chosen::end_of_batch(batch)
}

/// An async counting semaphore (bounds open connections). Internal: async-lock's
/// semaphore is runtime-neutral, so no backend has to provide one.
pub(crate) type Semaphore = smol::lock::Semaphore;

/// A held seat of a [`Semaphore`], given back on drop.
pub(crate) type Permit = smol::lock::SemaphoreGuardArc;

/// A handle to a spawned task: await it for the task's output. Dropping it cancels the
/// task unless it was [detached](Task::detach).
#[must_use = "dropping a Task cancels it; call detach() to let it run on"]
pub struct Task<T: Send + 'static>(<Exec as Executor>::Task<T>);

impl<T: Send + 'static> Task<T> {
    /// Lets the task run to its end without anyone awaiting it.
    pub fn detach(self) {
        Exec::detach(self.0);
    }

    /// Cancels the task and waits until it has stopped (its future dropped); the
    /// output if it had finished first.
    pub async fn cancel(self) -> Option<T> {
        Exec::cancel(self.0).await
    }
}

impl<T: Send + 'static> std::future::Future for Task<T> {
    type Output = T;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// The local address a listener is bound to (port 0 resolved).
pub fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
    Chosen::listener_std(listener).local_addr()
}

/// True when an idle pooled connection has neither been closed by its peer nor sent
/// unsolicited bytes: a non-blocking peek that would block means "still quiet".
pub fn is_quiet(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(Chosen::stream_std(stream).peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Reads what waits on `stream` without taking it (non-blocking: `WouldBlock` when
/// nothing does).
pub fn peek(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    Chosen::stream_std(stream).peek(buf)
}

/// Half-closes a stream: the peer sees EOF, and we can still read what it sends.
pub fn shutdown_write(stream: &TcpStream) {
    let _ = Chosen::stream_std(stream).shutdown(std::net::Shutdown::Write);
}

/// The time as timers count it: on a runtime thread of the epoll backend, the time of
/// its last reactor turn (one clock read per turn; `rt/epoll/clock.rs` says how far
/// behind it can be). For deadlines and ages measured against timeouts, not for timing
/// work (use `Instant::now` there).
pub fn now() -> Instant {
    Chosen::now()
}

/// Sleeps for `d`.
pub async fn sleep(d: Duration) {
    Chosen::timer(d).await;
}

/// Signals caught from the moment this is made until it is dropped.
///
/// Made before weir says it is listening: SIGHUP's and SIGTERM's default action ends
/// the process, so a reload asked for just after start-up must find them caught
/// already, not when the serving task first gets to run.
pub struct Caught(<Chosen as Backend>::Signals);

impl Caught {
    /// SIGTERM and SIGINT (Ctrl-C).
    pub fn termination() -> io::Result<Self> {
        Chosen::signals(&[Signal::Terminate, Signal::Interrupt]).map(Caught)
    }

    /// SIGHUP.
    pub fn hangups() -> io::Result<Self> {
        Chosen::signals(&[Signal::Hangup]).map(Caught)
    }

    /// SIGUSR2 (an upgrade).
    pub fn upgrades() -> io::Result<Self> {
        Chosen::signals(&[Signal::Upgrade]).map(Caught)
    }

    /// Resolves at the next signal (never, once none can come).
    pub async fn next(&mut self) {
        if Chosen::next_signal(&mut self.0).await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// The chosen backend's executor on a fixed set of OS threads.
///
/// We own the executor instead of leaning on a global one, so the `threads` setting
/// means exactly what it says and an embedding program keeps its own runtime apart.
#[derive(Clone)]
pub struct Runtime {
    ex: Exec,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Self {
        Runtime { ex: Exec::new() }
    }

    /// Spawns a task onto this runtime's executor.
    pub fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        Task(self.ex.spawn(fut))
    }

    /// Spawns a task that runs on thread `worker` of this runtime only (see the
    /// contract's "Placement" rule); where the backend cannot place tasks, as [`spawn`].
    ///
    /// [`spawn`]: Runtime::spawn
    pub fn spawn_on<T: Send + 'static>(
        &self,
        worker: usize,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        Task(self.ex.spawn_on(worker, fut))
    }

    /// Runs `fut` to completion on the current thread, with `threads - 1` more OS threads
    /// driving the executor alongside it (`threads = 0` means one per CPU).
    pub fn block_on<T>(&self, threads: usize, fut: impl Future<Output = T>) -> T {
        self.ex.run(threads, fut)
    }
}
