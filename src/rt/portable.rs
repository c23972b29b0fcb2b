//! The portable runtime: smol's reactor (async-io), used off Linux, or on Linux with the
//! `portable-runtime` feature. It registers sockets one-shot, so every wait for
//! readiness costs an `epoll_ctl`/`kevent` re-arm; see `epoll` for the Linux one.
//! Tasks run on smol's executor, shared by the worker threads (`smol_executor`).
//!
//! The stream is async-io's wrapped in [`Stream`], only because async-io's `poll_close`
//! merely flushes: the contract's (and the epoll backend's, and tokio's `poll_shutdown`)
//! sends a FIN, which is what rustls' `close` and a test's `close()` expect to reach the
//! peer.

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

use super::contract::{Backend, Signal};
use super::signals::AsyncSignals;
use super::smol_executor::Smol;
use super::Batch;

/// smol with async-io's reactor.
pub struct Portable;

impl Backend for Portable {
    type TcpStream = Stream;
    type TcpListener = smol::Async<StdListener>;
    type Timer = smol::Timer;
    type Signals = AsyncSignals;
    type Executor = Smol<Portable>;

    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Self::TcpListener> {
        smol::Async::new(super::listen::listener(addr, backlog)?)
    }

    fn adopt(listener: std::net::TcpListener) -> io::Result<Self::TcpListener> {
        smol::Async::new(listener)
    }

    async fn accept(listener: &Self::TcpListener) -> io::Result<(Self::TcpStream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.get_ref().set_nodelay(true)?;
        Ok((Stream(stream), peer))
    }

    async fn pending(listener: &Self::TcpListener) -> io::Result<()> {
        listener.readable().await
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::TcpStream> {
        let stream = smol::Async::<StdStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(Stream(stream))
    }

    async fn readable(stream: &Self::TcpStream) {
        let _ = stream.0.readable().await;
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
        stream.0.get_ref()
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

/// async-io's stream, closed with a FIN (see the module docs); everything else is
/// async-io's own.
pub struct Stream(smol::Async<StdStream>);

impl AsyncRead for &Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for &Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

io_by_ref!(Stream);
