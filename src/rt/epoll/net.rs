//! Non-blocking TCP sockets on the epoll reactor.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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
    /// Just accepted, and [`readable`] has not answered for it yet: the first ask is
    /// answered at once (see [`readable`]). False on connected sockets. Beside `io`
    /// (a 4-byte descriptor) it fills padding: every idle connection holds one.
    fresh: AtomicBool,
    reg: Lazy,
}

/// A non-blocking TCP listener.
pub struct TcpListener {
    io: StdListener,
    reg: Lazy,
}

/// A socket registers with the reactor of the thread that first has to wait on it, and
/// not before: until a call answers `WouldBlock`, calls go straight to the kernel. A
/// connection whose request is already there when it is accepted (the usual case: a
/// client sends its request right after the handshake) is read, answered and, with
/// `Connection: close`, closed without an `epoll_ctl`, a slot in the reactor or a turn
/// of it (bench/profiling.md, "New connections: where the instructions go"). Registering
/// after the `WouldBlock` misses nothing: `EPOLL_CTL_ADD` reports a socket that is
/// already ready at the next `epoll_wait`, edge-triggered or not.
#[derive(Default)]
struct Lazy {
    reg: OnceLock<Result<Registration, i32>>,
}

impl Lazy {
    /// The socket's registration, made now if it has none, watched for writes from the
    /// start if the first wait is to write (`dir`).
    #[inline]
    fn get(&self, fd: BorrowedFd<'_>, dir: Dir) -> io::Result<&Registration> {
        let reg = self.reg.get_or_init(|| {
            reactor::current()
                .register(fd, matches!(dir, Dir::Write))
                .map_err(|e| e.raw_os_error().unwrap_or(0))
        });
        match reg {
            Ok(reg) => Ok(reg),
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        }
    }

    fn source(&self, fd: BorrowedFd<'_>, dir: Dir) -> io::Result<&Source> {
        Ok(&self.get(fd, dir)?.source)
    }

    /// Polls the socket's source in `dir`; a write left waiting makes epoll watch for
    /// writes from then on.
    #[inline]
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        fd: BorrowedFd<'_>,
        dir: Dir,
        op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let reg = self.get(fd, dir)?;
        let polled = reg.source.poll_io(cx, dir, op, drained);
        if polled.is_pending() && matches!(dir, Dir::Write) {
            reg.watch_writes(fd)?;
        }
        polled
    }

    fn registered(&self) -> bool {
        self.reg.get().is_some()
    }

    /// Runs `op` once, without the reactor, while the socket is not registered: its
    /// answer, or `None` when it would block (then the caller registers and waits).
    fn try_unregistered<R>(&self, mut op: impl FnMut() -> io::Result<R>) -> Option<io::Result<R>> {
        while !self.registered() {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                done => return Some(done),
            }
        }
        None
    }
}

/// Binds a listener with room for `backlog` connections not yet accepted.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    adopt(crate::rt::listen::listener(addr, backlog)?)
}

/// A listening socket made elsewhere (passed by systemd), non-blocking from now on,
/// with Nagle off for the connections it accepts (see [`accept`]).
pub fn adopt(io: std::net::TcpListener) -> io::Result<TcpListener> {
    io.set_nonblocking(true)?;
    sys::sockopt::set_tcp_nodelay(&io, true)?;
    Ok(TcpListener {
        io,
        reg: Lazy::default(),
    })
}

/// Accepts one connection, already non-blocking (`accept4`), with Nagle off: on Linux
/// an accepted socket inherits `TCP_NODELAY` from its listener (set in [`adopt`]), so
/// no `setsockopt` per connection; elsewhere it is set on each.
pub async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let accept = || Ok(sys::acceptfrom_with(&listener.io, flags)?);
    let (fd, peer) = match listener.reg.try_unregistered(accept) {
        Some(done) => done?,
        None => {
            let source = listener.reg.source(listener.io.as_fd(), Dir::Read)?;
            poll_fn(|cx| source.poll_io(cx, Dir::Read, accept, |_| false)).await?
        }
    };
    let io = StdStream::from(fd);
    #[cfg(not(target_os = "linux"))]
    io.set_nodelay(true)?;
    let peer = match peer.map(SocketAddr::try_from) {
        Some(Ok(peer)) => peer,
        _ => io.peer_addr()?,
    };
    let stream = TcpStream {
        io,
        fresh: AtomicBool::new(true),
        reg: Lazy::default(),
    };
    Ok((stream, peer))
}

/// Waits until a connection is waiting to be accepted, without accepting it.
pub async fn pending(listener: &TcpListener) -> io::Result<()> {
    let source = listener.reg.source(listener.io.as_fd(), Dir::Read)?;
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
        fresh: AtomicBool::new(false),
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
            fresh: AtomicBool::new(false),
            reg: Lazy::default(),
        })
    }

    pub fn get_ref(&self) -> &StdStream {
        &self.io
    }

    /// True the first time it is asked about a fresh socket never registered: it is
    /// worth one try before it is registered and waited on.
    fn probe(&self) -> bool {
        self.fresh.load(Relaxed) && self.fresh.swap(false, Relaxed) && !self.reg.registered()
    }

    /// Whether the socket has had to wait, and so joined a reactor.
    #[cfg(test)]
    pub(crate) fn is_registered(&self) -> bool {
        self.reg.registered()
    }

    /// Waits until the socket is known ready in `dir` (free when it already is); a
    /// socket not yet registered is registered first, and waits for what its
    /// registration reports.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Dir) -> Poll<io::Result<()>> {
        let fd = self.io.as_fd();
        match dir {
            // A read never has writes watched: the wait for each keep-alive request
            // pays nothing for them.
            Dir::Read => self
                .reg
                .source(fd, dir)?
                .poll_io(cx, dir, || Ok(()), |_| false),
            Dir::Write => self.reg.poll_io(cx, fd, dir, || Ok(()), |_| false),
        }
    }

    /// Runs `op` once the socket is ready in `dir`: at once, without the reactor, while
    /// the socket has never had to wait (see [`Lazy`]).
    pub(super) fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        if let Some(done) = self.reg.try_unregistered(&mut op) {
            return Poll::Ready(done);
        }
        self.reg.poll_io(cx, self.io.as_fd(), dir, op, drained)
    }
}

/// Waits until `stream` has bytes (or EOF) to read. Asked first about an accepted socket
/// never registered (a connection before its first request), it answers at once
/// (a spurious wake is allowed): the read that follows finds the request already there
/// far more often than not, and saves the registration, a reactor turn and a timer.
pub async fn readable(stream: &TcpStream) {
    if stream.probe() {
        return;
    }
    let _ = poll_fn(|cx| stream.poll_ready(cx, Dir::Read)).await;
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let (io, len) = (&self.io, buf.len());
        let recv = || Ok(sys::recv(io, &mut *buf, sys::RecvFlags::empty())?.0);
        self.poll_op(cx, Dir::Read, recv, |&n| n > 0 && n < len)
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        let send = || Ok(sys::send(io, buf, sys::SendFlags::NOSIGNAL)?);
        self.poll_op(cx, Dir::Write, send, |&n| n < buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.poll_op(cx, Dir::Write, || send_vectored(io, bufs), |&n| n < total)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.io.shutdown(Shutdown::Write))
    }
}

io_by_ref!(TcpStream);

/// Writes `bufs` with `sendmsg(2)`, not `writev(2)` as std's `write_vectored` does:
/// `writev` reaches the socket through the file layer (`fdget_pos`, `vfs_writev`: 1.8%
/// of weir's CPU time on small HTTP/2 responses in a `perf record`, bench/profiling.md),
/// which `sendmsg` skips; and `MSG_NOSIGNAL` makes a write to a closed peer an `EPIPE`
/// whatever the process's `SIGPIPE` disposition. Reads and writes here go through
/// rustix's system calls rather than std's (libc's): the same calls (`recv`, `send`,
/// `sendmsg`), without libc's cancellation-point bookkeeping around each.
fn send_vectored(io: &StdStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut no_control = sys::SendAncillaryBuffer::default();
    let flags = sys::SendFlags::NOSIGNAL;
    Ok(sys::sendmsg(io, bufs, &mut no_control, flags)?)
}
