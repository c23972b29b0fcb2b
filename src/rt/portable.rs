//! The portable runtime: smol's reactor (async-io), used off Linux, or on Linux with the
//! `portable-runtime` feature. It registers sockets one-shot, so every wait for
//! readiness costs an `epoll_ctl`/`kevent` re-arm; see `epoll` for the Linux one.
//! Tasks run on smol's executor, shared by the worker threads (`smol_executor`).

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::time::Duration;

use super::contract::{Backend, Signal};
use super::signals::AsyncSignals;
use super::smol_executor::Smol;
use super::Batch;

/// smol with async-io's reactor.
pub struct Portable;

impl Backend for Portable {
    type TcpStream = smol::Async<StdStream>;
    type TcpListener = smol::Async<StdListener>;
    type Timer = smol::Timer;
    type Signals = AsyncSignals;
    type Executor = Smol<Portable>;

    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Self::TcpListener> {
        smol::Async::new(super::listen::listener(addr, backlog)?)
    }

    async fn accept(listener: &Self::TcpListener) -> io::Result<(Self::TcpStream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.get_ref().set_nodelay(true)?;
        Ok((stream, peer))
    }

    async fn pending(listener: &Self::TcpListener) -> io::Result<()> {
        listener.readable().await
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::TcpStream> {
        let stream = smol::Async::<StdStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(stream)
    }

    async fn readable(stream: &Self::TcpStream) {
        let _ = stream.readable().await;
    }

    /// Yields to the other ready tasks: smol's reactor has no hook at the end of a
    /// batch, so this is the nearest to the epoll runtime's (which also orders the
    /// waiting tasks by [`Batch`]; here they keep their order).
    async fn end_of_batch(_batch: Batch) {
        futures_lite::future::yield_now().await;
    }

    fn timer(after: Duration) -> smol::Timer {
        smol::Timer::after(after)
    }

    fn stream_std(stream: &Self::TcpStream) -> &StdStream {
        stream.get_ref()
    }

    fn listener_std(listener: &Self::TcpListener) -> &StdListener {
        listener.get_ref()
    }

    fn block_on<T>(fut: impl Future<Output = T>) -> T {
        smol::block_on(fut)
    }

    fn signals(which: &[Signal]) -> io::Result<AsyncSignals> {
        AsyncSignals::new(which)
    }

    async fn next_signal(signals: &mut AsyncSignals) -> Option<Signal> {
        signals.next().await
    }
}
