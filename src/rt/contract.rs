//! The runtime contract: what a backend provides, and the rules it must keep.
//!
//! weir's core never names a runtime. It calls the functions of [`super`], which forward,
//! statically (no `dyn`, no boxing), to the one backend the build picked: a type that
//! implements [`Backend`], whose [`Backend::Executor`] implements [`Executor`]. A third
//! party's runtime fits by implementing the two traits and passing the conformance suite
//! (`tests/rt_conformance.rs`), which CI runs against every backend.
//!
//! # Rules every backend keeps
//!
//! - **Wake-ups.** A future that returns `Pending` has filed its task's waker where the
//!   event it waits for will find it, and is woken when that event happens, even if it
//!   happened between the check and the filing. Spurious wake-ups are allowed; lost ones
//!   are not. A backend may keep one waiter per direction of a socket: weir reads a
//!   socket from one task and writes it from one. (The epoll and async-io backends wake
//!   a waiter a second one displaces; tokio's `AsyncFd` keeps only the last.)
//! - **Cancellation on drop.** Every future here may be dropped at any `Pending`: that
//!   cancels it, with no effect on the socket or listener it borrowed. A dropped accept
//!   leaves the queued connection for the next accept, a dropped read loses no bytes, a
//!   dropped timer never wakes anyone. This is what `rt::timeout` relies on.
//! - **Streams.** An owned `TcpStream` and `&TcpStream` are both `AsyncRead + AsyncWrite`
//!   (`futures-io`'s traits), and `TcpStream` is `Unpin`: weir's `Stream` and rustls own a
//!   stream by value, while the proxy reads a socket from one task and writes it from
//!   another through shared references. Nagle is off. `poll_close` half-closes (sends a
//!   FIN) and a read after the peer's FIN returns `Ok(0)`.
//! - **A std view.** A stream and a listener lend their `std::net` socket, for socket
//!   options, `peek` and `local_addr`; a backend that wraps its own socket type must keep
//!   one underneath (`AsyncFd` in tokio, `Async` in async-io).
//! - **Tasks.** A task is spawned onto the executor and runs until its future ends or its
//!   handle is dropped (which cancels it). Detaching lets it run to its end with nobody
//!   awaiting it; the executor keeps it alive while any of its threads runs.
//! - **Threads.** [`Executor::run`] uses exactly the number of threads asked for (`0`:
//!   one per CPU): whether they share one queue or each keep their own is the backend's
//!   choice, written in its docs. Sockets and timers also work when first polled off a
//!   runtime thread (in a test, say), at whatever cost.
//! - **Placement.** An executor whose [`Executor::PLACES_TASKS`] is true numbers the
//!   threads of a running [`Executor::run`] `0..threads`, and runs a task spawned with
//!   [`Executor::spawn_on`]`(i, ..)` on thread `i` (modulo `threads`) only: never
//!   stolen, never moved, so the sockets it first waits on belong to that thread's
//!   reactor, and what it spawns with [`Executor::spawn`] is queued on that thread first.
//!   weir then runs one accept loop per thread, each on a listening socket of its own
//!   bound with `SO_REUSEPORT`: the kernel spreads new connections over the threads, and
//!   each is accepted and queued by the thread whose reactor saw it (no thundering
//!   herd on one shared socket). An executor that cannot place tasks leaves
//!   `PLACES_TASKS` false and `spawn_on` as `spawn`: weir then keeps one listening
//!   socket per address, shared by its threads. Before `run` (or after it) `spawn_on`
//!   is `spawn`.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};

use super::Batch;

/// A signal weir acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: shut down gracefully.
    Terminate,
    /// SIGINT (Ctrl-C): as SIGTERM.
    Interrupt,
    /// SIGHUP: reload the configuration.
    Hangup,
    /// SIGUSR2: hand the listening sockets to a new process, then drain (an upgrade).
    Upgrade,
}

/// Sockets, timers, signals and the blocking loop of one runtime. The functions are
/// associated (no `self`): a backend's state lives in its threads, as a reactor does.
pub trait Backend: Sized + 'static
where
    for<'a> &'a Self::TcpStream: AsyncRead + AsyncWrite,
{
    /// A non-blocking, connected TCP stream (see the module's rules: owned and shared
    /// reads and writes, Nagle off).
    type TcpStream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static;
    /// A non-blocking listening socket.
    type TcpListener: Send + Sync + 'static;
    /// Resolves once its duration has passed (its output is ignored); dropped early, it
    /// never wakes anyone.
    type Timer: Future + Send + 'static;
    /// Signals caught from creation until drop (their default action is off meanwhile).
    type Signals: Send + Unpin + 'static;
    /// Runs tasks on the runtime's threads.
    type Executor: Executor;

    /// Binds and listens with room for `backlog` connections not yet accepted,
    /// `SO_REUSEADDR` set (`rt::listen::listener` makes such a socket).
    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Self::TcpListener>;

    /// Takes a listening socket made elsewhere (passed by systemd's socket activation),
    /// making it non-blocking: from then on it is this backend's like a bound one.
    fn adopt(listener: StdListener) -> io::Result<Self::TcpListener>;

    /// Accepts one connection (Nagle off) and its peer's address.
    fn accept(
        listener: &Self::TcpListener,
    ) -> impl Future<Output = io::Result<(Self::TcpStream, SocketAddr)>> + Send;

    /// Resolves once a connection waits to be accepted, leaving it queued: weir waits
    /// here while it is at `max_connections`, so the kernel's backlog holds the clients.
    fn pending(listener: &Self::TcpListener) -> impl Future<Output = io::Result<()>> + Send;

    /// Connects to `addr` (Nagle off); resolves once the handshake is done or failed.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Resolves once a read would return without blocking: bytes, EOF or an error wait.
    /// It reads nothing. It may resolve spuriously (the next read then says `WouldBlock`
    /// and waits as usual), but never sleeps while bytes or an EOF wait.
    fn readable(stream: &Self::TcpStream) -> impl Future<Output = ()> + Send;

    /// Parks the task until the ready tasks of this batch have run, then resumes the
    /// parked ones in [`Batch`] order, so writes leave grouped (see `rt::end_of_batch`).
    /// It must resolve, off a runtime thread too; a plain yield is a correct
    /// implementation.
    fn end_of_batch(batch: Batch) -> impl Future<Output = ()> + Send;

    /// The time, as timers and deadlines count it: may be the time of the thread's
    /// last reactor turn rather than a fresh read (the epoll backend's `clock` module
    /// says by how much it can be behind), so it must not be used to time work.
    fn now() -> Instant {
        Instant::now()
    }

    /// A timer that fires `after` from now (a far-off deadline for an overflowing one).
    fn timer(after: Duration) -> Self::Timer;

    /// Sets `timer` to fire `after` from now, as [`timer`](Self::timer) makes one: for a
    /// timer kept across waits (a keep-alive connection's idle timer), which a backend
    /// may move rather than cancel and file again (the epoll one does).
    fn reset(timer: &mut Self::Timer, after: Duration) {
        *timer = Self::timer(after);
    }

    /// The std socket under a stream.
    fn stream_std(stream: &Self::TcpStream) -> &StdStream;

    /// The std socket under a listener.
    fn listener_std(listener: &Self::TcpListener) -> &StdListener;

    /// Polls `fut` to completion on the calling thread, driving the backend's reactor and
    /// timers between polls; an executor's worker threads each run in one.
    fn block_on<T>(fut: impl Future<Output = T>) -> T;

    /// Catches `which` until the returned value is dropped.
    fn signals(which: &[Signal]) -> io::Result<Self::Signals>;

    /// The next signal caught; `None` once no more can come.
    fn next_signal(signals: &mut Self::Signals) -> impl Future<Output = Option<Signal>> + Send;
}

/// Where tasks run: spawn, detach or cancel a task, and run the threads.
pub trait Executor: Clone + Send + Sync + 'static {
    /// A handle to a spawned task: awaiting it gives the output; dropping it cancels it.
    type Task<T: Send + 'static>: Future<Output = T> + Send + Unpin;

    /// A new executor with no tasks and no threads yet.
    fn new() -> Self;

    /// Starts `fut` on this executor's threads.
    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Self::Task<T>;

    /// Whether [`Executor::spawn_on`] places tasks on one thread (the module's
    /// "Placement" rule); false: it is [`Executor::spawn`].
    const PLACES_TASKS: bool = false;

    /// Starts `fut` on thread `worker` (modulo the number of threads) of the running
    /// [`Executor::run`], and only there; as [`Executor::spawn`] where the executor
    /// cannot place tasks, or while it does not run.
    fn spawn_on<T: Send + 'static>(
        &self,
        worker: usize,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Self::Task<T> {
        let _ = worker;
        self.spawn(fut)
    }

    /// Lets the task run to its end without anyone awaiting it.
    fn detach<T: Send + 'static>(task: Self::Task<T>);

    /// Cancels the task and resolves once its future is dropped: its output if it had
    /// finished first.
    fn cancel<T: Send + 'static>(task: Self::Task<T>) -> impl Future<Output = Option<T>> + Send;

    /// Runs `fut` to completion on the calling thread, with the executor's tasks on
    /// `threads` threads in all, this one included (`0`: one per CPU); the other threads
    /// stop when `fut` is done.
    fn run<T>(&self, threads: usize, fut: impl Future<Output = T>) -> T;
}
