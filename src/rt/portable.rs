//! The portable runtime: smol's reactor (async-io), used off Linux, or on Linux with the
//! `portable-runtime` feature. It registers sockets one-shot, so every wait for
//! readiness costs an `epoll_ctl`/`kevent` re-arm; see `epoll` for the Linux one.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};

/// A non-blocking TCP stream; `&TcpStream` is both `AsyncRead` and `AsyncWrite`.
pub type TcpStream = smol::Async<StdStream>;
/// A non-blocking TCP listener.
pub type TcpListener = smol::Async<StdListener>;
/// Resolves after a duration.
pub type Timer = smol::Timer;

pub use smol::block_on;

/// Binds a listener with room for `backlog` connections not yet accepted.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    smol::Async::new(super::listen::listener(addr, backlog)?)
}

/// A listening socket made elsewhere (passed by systemd), non-blocking from now on.
pub fn adopt(listener: std::net::TcpListener) -> io::Result<TcpListener> {
    smol::Async::new(listener)
}

/// Waits until a connection is waiting to be accepted, without accepting it.
pub async fn pending(listener: &TcpListener) -> io::Result<()> {
    listener.readable().await
}

/// Accepts one connection, with Nagle off.
pub async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept().await?;
    stream.get_ref().set_nodelay(true)?;
    Ok((stream, peer))
}

/// Connects to an upstream, with Nagle off.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = smol::Async::<StdStream>::connect(addr).await?;
    stream.get_ref().set_nodelay(true)?;
    Ok(stream)
}

/// Yields to the other ready tasks: smol's reactor has no hook at the end of a batch,
/// so this is the nearest to the epoll runtime's `end_of_batch` (which also orders the
/// waiting tasks by group; here they keep their order).
pub async fn end_of_batch(_group: u64) {
    futures_lite::future::yield_now().await;
}

/// Waits until `stream` has bytes (or EOF) to read.
pub async fn readable(stream: &TcpStream) {
    let _ = stream.readable().await;
}
