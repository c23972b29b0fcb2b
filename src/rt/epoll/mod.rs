//! weir's own reactor for Linux: epoll, edge-triggered, one per runtime thread.
//!
//! Why not async-io's: see `reactor`. The executor is weir's (`lean_executor`: a run
//! queue per worker thread, with stealing); only readiness, timers and the thread's
//! blocking loop live here. Everything is safe code over `rustix`. Signals go through async-signal
//! (`rt/signals.rs` says why not through this reactor).

mod block_on;
pub(crate) mod clock;
mod give_way;
mod net;
mod reactor;
mod source;
mod spin;
pub(crate) mod splice;
mod timer;
mod timers;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::time::{Duration, Instant};

use super::contract::{Backend, Signal};
use super::lean_executor::Lean;
use super::signals::AsyncSignals;
use super::Batch;

/// weir's executor over weir's epoll reactor.
pub struct Epoll;

impl Backend for Epoll {
    type TcpStream = net::TcpStream;
    type TcpListener = net::TcpListener;
    type Timer = timer::Timer;
    type Signals = AsyncSignals;
    type Executor = Lean<Epoll>;

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

    fn end_of_batch(batch: Batch) -> impl Future<Output = ()> + Send {
        block_on::end_of_batch(batch)
    }

    fn now() -> Instant {
        clock::now()
    }

    fn timer(after: Duration) -> timer::Timer {
        timer::Timer::after(after)
    }

    fn reset(timer: &mut timer::Timer, after: Duration) {
        timer.reset(after);
    }

    fn stream_std(stream: &net::TcpStream) -> &StdStream {
        stream.get_ref()
    }

    fn listener_std(listener: &net::TcpListener) -> &StdListener {
        listener.get_ref()
    }

    fn block_on<T>(fut: impl Future<Output = T>) -> T {
        block_on::block_on(fut)
    }

    fn signals(which: &[Signal]) -> io::Result<AsyncSignals> {
        AsyncSignals::new(which)
    }

    async fn next_signal(signals: &mut AsyncSignals) -> Option<Signal> {
        signals.next().await
    }
}
