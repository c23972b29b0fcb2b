//! TCP on tokio's reactor through `AsyncFd`, so the std socket stays underneath (the
//! contract lends it for socket options and `peek`) and `&TcpStream` reads and writes
//! (tokio's own `TcpStream` only does through `split`).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use rustix::event::{PollFd, PollFlags};
use rustix::net::{self as sys, AddressFamily, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking TCP stream. `reg` is declared first so it drops first: the fd leaves
/// tokio's epoll set before `io` closes it (a number closed first could be reused by
/// another socket, which the deregistration would then remove).
pub struct TcpStream {
    reg: Lazy,
    io: StdStream,
}

/// A non-blocking TCP listener (fields in drop order, as [`TcpStream`]'s).
pub struct TcpListener {
    reg: Lazy,
    io: StdListener,
}

/// Registers with the runtime of the thread that first polls the socket (the fallback
/// one off a runtime thread): listeners are bound before the runtime starts.
#[derive(Default)]
struct Lazy(OnceLock<Result<AsyncFd<RawFd>, i32>>);

impl Lazy {
    fn fd(&self, raw: RawFd) -> io::Result<&AsyncFd<RawFd>> {
        let reg = self.0.get_or_init(|| {
            let _runtime = super::enter();
            // Deprecated since tokio 1.54 for I/O safety: `AsyncFd<RawFd>` cannot promise
            // the fd stays open. Here the socket that owns it lives beside the
            // registration and drops after it (field order), so it does. The safe way
            // out, tokio's own `TcpStream`, gives no std socket: see the report.
            #[allow(deprecated)]
            AsyncFd::with_interest(raw, Interest::READABLE | Interest::WRITABLE)
                .map_err(|e| e.raw_os_error().unwrap_or(0))
        });
        match reg {
            Ok(fd) => Ok(fd),
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        }
    }
}

pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    adopt(crate::rt::listen::listener(addr, backlog)?)
}

/// A listening socket made elsewhere (passed by systemd), non-blocking from now on.
pub fn adopt(io: StdListener) -> io::Result<TcpListener> {
    io.set_nonblocking(true)?;
    Ok(TcpListener {
        reg: Lazy::default(),
        io,
    })
}

pub async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let fd = listener.reg.fd(listener.io.as_raw_fd())?;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (sock, peer) = loop {
        let mut ready = fd.readable().await?;
        match ready.try_io(|_| Ok(sys::acceptfrom_with(&listener.io, flags)?)) {
            Ok(accepted) => break accepted?,
            Err(_would_block) => continue,
        }
    };
    let io = StdStream::from(sock);
    io.set_nodelay(true)?;
    let peer = match peer.map(SocketAddr::try_from) {
        Some(Ok(peer)) => peer,
        _ => io.peer_addr()?,
    };
    let stream = TcpStream {
        reg: Lazy::default(),
        io,
    };
    Ok((stream, peer))
}

pub async fn pending(listener: &TcpListener) -> io::Result<()> {
    let fd = listener.reg.fd(listener.io.as_raw_fd())?;
    loop {
        let mut ready = fd.readable().await?;
        let mut fds = [PollFd::new(&listener.io, PollFlags::IN)];
        let none = rustix::event::Timespec::default();
        if rustix::event::poll(&mut fds, Some(&none))? > 0 {
            return Ok(());
        }
        ready.clear_ready();
    }
}

pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let sock = sys::socket_with(family, SocketType::STREAM, flags, None)?;
    match sys::connect(&sock, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let stream = TcpStream {
        reg: Lazy::default(),
        io: StdStream::from(sock),
    };
    let fd = stream.reg.fd(stream.io.as_raw_fd())?;
    let _ready = fd.writable().await?;
    sys::sockopt::socket_error(&stream.io)??;
    stream.io.set_nodelay(true)?;
    Ok(stream)
}

pub async fn readable(stream: &TcpStream) {
    if let Ok(fd) = stream.reg.fd(stream.io.as_raw_fd()) {
        // The guard drops without clearing: the read that follows finds out.
        let _ = fd.readable().await;
    }
}

impl TcpListener {
    pub fn get_ref(&self) -> &StdListener {
        &self.io
    }
}

impl TcpStream {
    pub fn get_ref(&self) -> &StdStream {
        &self.io
    }

    /// Runs `op` once tokio says the socket is ready for `interest`, until it does not
    /// answer `WouldBlock` (which clears tokio's readiness, as the epoll backend's EAGAIN).
    ///
    /// A result `drained` calls short (a read or write that moved less than asked for)
    /// clears the readiness too, as the epoll backend does: the kernel had no more, so the
    /// next call would only say EAGAIN (1.57 such `recvfrom` per small proxied request
    /// before, bench/profiling.md). It is safe for the same reasons: tokio clears only if
    /// no readiness event arrived since the guard was taken (its tick), and never clears
    /// the closed states, so a FIN that came with the last bytes is still read as EOF.
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let fd = self.reg.fd(self.io.as_raw_fd())?;
        loop {
            let mut ready = if interest.is_readable() {
                ready!(fd.poll_read_ready(cx))?
            } else {
                ready!(fd.poll_write_ready(cx))?
            };
            match ready.try_io(|_| op()) {
                Ok(Ok(r)) => {
                    if drained(&r) {
                        ready.clear_ready();
                    }
                    return Poll::Ready(Ok(r));
                }
                Ok(failed) => return Poll::Ready(failed),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let (io, len) = (&self.io, buf.len());
        self.poll_io(
            cx,
            Interest::READABLE,
            || (&*io).read(buf),
            |&n| n > 0 && n < len,
        )
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        self.poll_io(
            cx,
            Interest::WRITABLE,
            || (&*io).write(buf),
            |&n| n < buf.len(),
        )
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.poll_io(
            cx,
            Interest::WRITABLE,
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
