//! tokio as a backend (`--features tokio-runtime`): its multi-thread executor
//! (`executor`), its reactor through `AsyncFd` (`net`), its timers and its signals.
//!
//! It passes the conformance suite and weir's whole test suite. Measured against the
//! other two in `bench/profiling.md` ("Runtimes compared": fewer instructions, more
//! system calls, since `AsyncFd` counts a socket drained only on `WouldBlock`, and more
//! memory per idle connection); the multi-thread runtime is a choice `executor` explains.
//! It registers sockets with `AsyncFd::with_interest`, which tokio 1.54 deprecated
//! for I/O safety (sound here: `net` says why; the alternative is `unsafe` or tokio's
//! own `TcpStream`, which lends no std socket and whose listener has no readiness wait
//! for `pending`). `end_of_batch` is a yield, as on async-io. Signals are tokio's:
//! once caught, a signal stays ignored after its `Signals` drop.

mod executor;
mod net;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::{EnterGuard, Handle, Runtime};
use tokio::signal::unix::{signal, SignalKind};

use super::contract::{Backend, Signal};
use super::Batch;

/// tokio's runtime, reactor and timers.
pub struct Tokio;

/// Serves sockets, timers, signals and spawns first used off a runtime thread (the
/// listeners weir binds before it starts, a test's `block_on`): one worker of its own.
static FALLBACK: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("weir-tokio-fallback")
        .enable_all()
        .build()
        .expect("build the fallback tokio runtime")
});

/// Enters the calling thread's runtime, or the fallback one off a runtime thread.
fn enter() -> Option<EnterGuard<'static>> {
    match Handle::try_current() {
        Ok(_) => None,
        Err(_) => Some(FALLBACK.enter()),
    }
}

/// The signals caught, each with tokio's stream for it.
pub struct Signals(Vec<(Signal, tokio::signal::unix::Signal)>);

impl Backend for Tokio {
    type TcpStream = net::TcpStream;
    type TcpListener = net::TcpListener;
    type Timer = Pin<Box<tokio::time::Sleep>>;
    type Signals = Signals;
    type Executor = executor::Tokio;

    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<net::TcpListener> {
        net::bind(addr, backlog)
    }

    fn adopt(listener: StdListener) -> io::Result<net::TcpListener> {
        net::adopt(listener)
    }

    fn accept(
        listener: &net::TcpListener,
    ) -> impl Future<Output = io::Result<(net::TcpStream, SocketAddr)>> + Send {
        net::accept(listener)
    }

    fn pending(listener: &net::TcpListener) -> impl Future<Output = io::Result<()>> + Send {
        net::pending(listener)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<net::TcpStream>> + Send {
        net::connect(addr)
    }

    fn readable(stream: &net::TcpStream) -> impl Future<Output = ()> + Send {
        net::readable(stream)
    }

    /// A yield: tokio has no hook at the end of a scheduler pass.
    async fn end_of_batch(_batch: Batch) {
        futures_lite::future::yield_now().await;
    }

    fn timer(after: Duration) -> Self::Timer {
        let _runtime = enter();
        let far = Duration::from_secs(86_400 * 365);
        Box::pin(tokio::time::sleep(after.min(far)))
    }

    fn stream_std(stream: &net::TcpStream) -> &StdStream {
        stream.get_ref()
    }

    fn listener_std(listener: &net::TcpListener) -> &StdListener {
        listener.get_ref()
    }

    fn block_on<T>(fut: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime")
            .block_on(fut)
    }

    /// tokio never restores a signal's default action once it caught it: after the
    /// returned value drops, the signal is ignored rather than fatal.
    fn signals(which: &[Signal]) -> io::Result<Signals> {
        let _runtime = enter();
        let kind = |s: &Signal| match s {
            Signal::Terminate => SignalKind::terminate(),
            Signal::Interrupt => SignalKind::interrupt(),
            Signal::Hangup => SignalKind::hangup(),
            Signal::Upgrade => SignalKind::user_defined2(),
        };
        let caught = which.iter().map(|s| Ok((*s, signal(kind(s))?)));
        caught.collect::<io::Result<_>>().map(Signals)
    }

    async fn next_signal(signals: &mut Signals) -> Option<Signal> {
        std::future::poll_fn(|cx| {
            let mut open = false;
            for (which, stream) in &mut signals.0 {
                match stream.poll_recv(cx) {
                    Poll::Ready(Some(())) => return Poll::Ready(Some(*which)),
                    Poll::Ready(None) => {}
                    Poll::Pending => open = true,
                }
            }
            if open {
                Poll::Pending
            } else {
                Poll::Ready(None)
            }
        })
        .await
    }
}
