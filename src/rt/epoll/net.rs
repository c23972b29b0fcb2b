//! Non-blocking TCP sockets on the epoll reactor.

use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use rustix::event::{PollFd, PollFlags};
use rustix::net::{self as sys, AddressFamily, SocketFlags, SocketType};

use super::reactor::{self, Registration};
use super::source::{Dir, Source};

/// A non-blocking TCP stream; `&TcpStream` is both `AsyncRead` and `AsyncWrite`.
pub struct TcpStream {
    io: StdStream,
    reg: Lazy,
}

/// A non-blocking TCP listener.
pub struct TcpListener {
    io: StdListener,
    reg: Lazy,
}

/// A socket registers on first use, with the reactor of the thread that polls it: a
/// listener bound before the runtime starts then lives on a runtime thread's reactor.
#[derive(Default)]
struct Lazy(OnceLock<Result<Registration, i32>>);

impl Lazy {
    fn source(&self, fd: BorrowedFd<'_>) -> io::Result<&Source> {
        let reg = self.0.get_or_init(|| {
            reactor::current()
                .register(fd)
                .map_err(|e| e.raw_os_error().unwrap_or(0))
        });
        match reg {
            Ok(reg) => Ok(&reg.source),
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        }
    }
}

/// Binds a listener with room for `backlog` connections not yet accepted.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    adopt(crate::rt::listen::listener(addr, backlog)?)
}

/// A listening socket made elsewhere (passed by systemd), non-blocking from now on.
pub fn adopt(io: std::net::TcpListener) -> io::Result<TcpListener> {
    io.set_nonblocking(true)?;
    Ok(TcpListener {
        io,
        reg: Lazy::default(),
    })
}

/// Accepts one connection, already non-blocking (`accept4`), with Nagle off.
pub async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let source = listener.reg.source(listener.io.as_fd())?;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (fd, peer) = poll_fn(|cx| {
        source.poll_io(
            cx,
            Dir::Read,
            || Ok(sys::acceptfrom_with(&listener.io, flags)?),
            |_| false,
        )
    })
    .await?;
    let io = StdStream::from(fd);
    io.set_nodelay(true)?;
    let peer = match peer.map(SocketAddr::try_from) {
        Some(Ok(peer)) => peer,
        _ => io.peer_addr()?,
    };
    let stream = TcpStream {
        io,
        reg: Lazy::default(),
    };
    Ok((stream, peer))
}

/// Waits until a connection is waiting to be accepted, without accepting it.
pub async fn pending(listener: &TcpListener) -> io::Result<()> {
    let source = listener.reg.source(listener.io.as_fd())?;
    // The reactor's readiness may be stale (it is only cleared when an accept finds the
    // queue empty), so the kernel is asked; "no" waits for the next connection's edge.
    let queued = || {
        let mut fds = [PollFd::new(&listener.io, PollFlags::IN)];
        let none = rustix::event::Timespec::default();
        match rustix::event::poll(&mut fds, Some(&none))? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(()),
        }
    };
    poll_fn(|cx| source.poll_io(cx, Dir::Read, queued, |_| false)).await
}

/// Connects without blocking: the socket is writable once the handshake is done.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let fd = sys::socket_with(family, SocketType::STREAM, flags, None)?;
    match sys::connect(&fd, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let stream = TcpStream {
        io: StdStream::from(fd),
        reg: Lazy::default(),
    };
    poll_fn(|cx| stream.poll_ready(cx, Dir::Write)).await?;
    sys::sockopt::socket_error(&stream.io)??;
    stream.io.set_nodelay(true)?;
    Ok(stream)
}

impl TcpListener {
    pub fn get_ref(&self) -> &StdListener {
        &self.io
    }
}

impl TcpStream {
    /// Takes over a connected std stream (made non-blocking here).
    #[cfg(test)]
    pub(crate) fn from_std(io: StdStream) -> io::Result<TcpStream> {
        io.set_nonblocking(true)?;
        Ok(TcpStream {
            io,
            reg: Lazy::default(),
        })
    }

    pub fn get_ref(&self) -> &StdStream {
        &self.io
    }

    /// Waits until the socket is known ready in `dir` (free when it already is).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Dir) -> Poll<io::Result<()>> {
        self.poll_op(cx, dir, || Ok(()), |_| false)
    }

    fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let source = self.reg.source(self.io.as_fd())?;
        source.poll_io(cx, dir, op, drained)
    }
}

/// Waits until `stream` has bytes (or EOF) to read.
pub async fn readable(stream: &TcpStream) {
    let _ = poll_fn(|cx| stream.poll_ready(cx, Dir::Read)).await;
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let (io, len) = (&self.io, buf.len());
        self.poll_op(cx, Dir::Read, || (&*io).read(buf), |&n| n > 0 && n < len)
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        self.poll_op(cx, Dir::Write, || (&*io).write(buf), |&n| n < buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.poll_op(
            cx,
            Dir::Write,
            || (&*io).write_vectored(bufs),
            |&n| n < total,
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.io.shutdown(Shutdown::Write))
    }
}

io_by_ref!(TcpStream);
