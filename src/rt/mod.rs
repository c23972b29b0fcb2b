//! The runtime boundary: the only module that names smol, async-io or epoll.
//!
//! Everything else is written against `futures-lite`'s `AsyncRead`/`AsyncWrite` and the
//! functions here (spawn, listen, connect, timers, signals), so the proxy core can be
//! rebuilt on another executor and compared like for like.
//!
//! Tasks run on smol's executor. Sockets and timers run, on Linux, on weir's own
//! edge-triggered epoll reactor (`epoll/`), one per worker thread, which spends no
//! system call to re-arm a socket between reads; elsewhere, or with the
//! `portable-runtime` feature, on smol's portable one (`portable.rs`). Signals always go
//! through async-signal, on smol's reactor.
//!
//! # The backend contract
//!
//! A backend is a module picked by `cfg` below as `imp`. It must provide exactly these
//! items (the build checks the names and types; this list says what they must *do*):
//!
//! | item | what it must do |
//! | --- | --- |
//! | `type TcpStream` | a non-blocking TCP stream such that `&TcpStream` is `AsyncRead + AsyncWrite`, with `get_ref() -> &std::net::TcpStream` for socket options and peeks |
//! | `type TcpListener` | a non-blocking listener with `get_ref() -> &std::net::TcpListener` |
//! | `fn bind(SocketAddr, backlog: u32) -> io::Result<TcpListener>` | bind and listen with that backlog, `SO_REUSEADDR` set (`listen.rs` makes the socket) |
//! | `fn adopt(std::net::TcpListener) -> io::Result<TcpListener>` | a listener made elsewhere (socket activation), made non-blocking |
//! | `async fn accept(&TcpListener) -> io::Result<(TcpStream, SocketAddr)>` | one connection, Nagle off |
//! | `async fn pending(&TcpListener) -> io::Result<()>` | resolves once a connection waits to be accepted, leaving it queued |
//! | `async fn connect(SocketAddr) -> io::Result<TcpStream>` | one connection, Nagle off |
//! | `async fn readable(&TcpStream)` | resolves once a read would not block (bytes or EOF); it may wake spuriously |
//! | `async fn end_of_batch(group: u64)` | parks the task until the current batch of ready tasks has run, so writes leave grouped; a plain yield is a correct implementation |
//! | `type Timer` with `Timer::after(Duration)` | a future that resolves after the duration |
//! | `fn block_on(impl Future) -> T` | drives the backend's reactor on this thread while polling the future |
//!
//! Everything else here (`timeout`, `sleep`, [`Runtime`], [`Task`], signals) is built
//! on those items and on smol's executor, and stays the same for every backend. The
//! public API names no smol type: [`Task`] is weir's own handle, and the connection
//! limit's semaphore (async-lock's, which runs on any executor) is internal.

#[cfg(all(target_os = "linux", not(feature = "portable-runtime")))]
#[path = "epoll/mod.rs"]
mod imp;
#[cfg(any(not(target_os = "linux"), feature = "portable-runtime"))]
#[path = "portable.rs"]
mod imp;

mod gate;
mod limits;
mod listen;

pub use imp::{
    accept, adopt, bind, connect, end_of_batch, pending, readable, TcpListener, TcpStream,
};
pub use limits::{is_local_resource_error, local_shortage, raise_fd_limit, FdLimit};
pub use listen::somaxconn;

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
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::{FutureExt, StreamExt};

/// An async counting semaphore (bounds open connections). Internal: async-lock's
/// semaphore is runtime-neutral, so no backend has to provide one.
pub(crate) type Semaphore = smol::lock::Semaphore;

/// A held seat of a [`Semaphore`], given back on drop.
pub(crate) type Permit = smol::lock::SemaphoreGuardArc;

/// A handle to a spawned task: await it for the task's output. Dropping it cancels the
/// task unless it was [detached](Task::detach).
#[must_use = "dropping a Task cancels it; call detach() to let it run on"]
pub struct Task<T>(smol::Task<T>);

impl<T> Task<T> {
    /// Lets the task run to its end without anyone awaiting it.
    pub fn detach(self) {
        self.0.detach();
    }

    /// Cancels the task and waits until it has stopped (its future dropped); the
    /// output if it had finished first.
    pub async fn cancel(self) -> Option<T> {
        self.0.cancel().await
    }
}

impl<T> std::future::Future for Task<T> {
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
    listener.get_ref().local_addr()
}

/// True when an idle pooled connection has neither been closed by its peer nor sent
/// unsolicited bytes: a non-blocking peek that would block means "still quiet".
pub fn is_quiet(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.get_ref().peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Half-closes a stream: the peer sees EOF, and we can still read what it sends.
pub fn shutdown_write(stream: &TcpStream) {
    let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
}

/// Sleeps for `d`.
pub async fn sleep(d: Duration) {
    imp::Timer::after(d).await;
}

/// Runs `fut` for at most `d`; `None` when the time ran out first.
///
/// Most reads and writes complete on their first poll, so the future is polled once
/// before a timer is filed: that is not free (a lock and a tree insert on the epoll
/// reactor; a wake of the reactor thread in async-io), and on the hot path it was a
/// timer per system call.
pub async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    if let Some(done) = futures_lite::future::poll_once(fut.as_mut()).await {
        return Some(done);
    }
    async { Some(fut.await) }
        .or(async {
            imp::Timer::after(d).await;
            None
        })
        .await
}

/// Signals caught from the moment this is made until it is dropped.
///
/// Made before weir says it is listening: SIGHUP's and SIGTERM's default action ends
/// the process, so a reload asked for just after start-up must find them caught
/// already, not when the serving task first gets to run.
pub struct Caught(async_signal::Signals);

impl Caught {
    /// SIGTERM and SIGINT (Ctrl-C).
    pub fn termination() -> io::Result<Self> {
        use async_signal::{Signal, Signals};
        Signals::new([Signal::Term, Signal::Int]).map(Caught)
    }

    /// SIGHUP.
    pub fn hangups() -> io::Result<Self> {
        use async_signal::{Signal, Signals};
        Signals::new([Signal::Hup]).map(Caught)
    }

    /// Resolves at the next signal.
    pub async fn next(&mut self) {
        if self.0.next().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// An executor shared by a fixed set of OS threads.
///
/// We own the executor instead of leaning on smol's global one, so the `threads` setting
/// means exactly what it says and an embedding program keeps its own runtime apart.
#[derive(Clone)]
pub struct Runtime {
    ex: Arc<smol::Executor<'static>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Self {
        Runtime {
            ex: Arc::new(smol::Executor::new()),
        }
    }

    /// Spawns a task onto this runtime's executor.
    pub fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        Task(self.ex.spawn(fut))
    }

    /// Runs `fut` to completion on the current thread, with `threads - 1` more OS threads
    /// driving the executor alongside it (`threads = 0` means one per CPU).
    pub fn block_on<T>(&self, threads: usize, fut: impl Future<Output = T>) -> T {
        let threads = match threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let workers: Vec<_> = (1..threads)
            .map(|i| {
                let ex = self.ex.clone();
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("weir-worker-{i}"))
                    .spawn(move || imp::block_on(ex.run(stopped.recv())))
                    .expect("spawn worker thread")
            })
            .collect();
        // Gated: `run` would poll `fut` after every reactor turn, woken or not.
        let out = imp::block_on(self.ex.run(gate::Gated::new(fut)));
        stop.close();
        for w in workers {
            let _ = w.join();
        }
        out
    }
}
