//! A connection's byte stream: plain TCP, or TLS over TCP, on either side of the proxy.
//!
//! The HTTP code reads and writes a [`Stream`] through `AsyncRead`/`AsyncWrite` and never
//! asks which kind it holds; the few operations that need the socket itself (waiting for
//! readability without a buffer, the pool's liveness peek, the half-close) are methods
//! here, and each one does the right thing for TLS. An enum rather than a generic
//! parameter: one connection type keeps the exchange, the pool and the tunnel
//! monomorphic (one copy of the code, not one per stream kind), and the `match` per call
//! costs nothing next to a system call.
//!
//! A TLS stream seals what it is given into records and writes them to the socket at
//! once; it holds back only what the socket would not take, until the next write or a
//! flush. So every writer in weir ends its writes with a flush (see
//! [`crate::http::body::write_all_vectored`]), which costs no system call on plain TCP,
//! nor on TLS when the socket took everything. A response's head and body, written
//! together, leave as one TLS record in one `writev` (`bench/profiling.md`, "TLS small
//! responses").

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use futures_rustls::{client, server};

use crate::rt::{self, TcpStream};

/// Longest wait for a TLS `close_notify` to leave before the socket half-closes anyway.
const CLOSE_NOTIFY_TIME: Duration = Duration::from_secs(1);

/// The most a vectored TLS write gathers into one slice before rustls seals it: a small
/// response's head and body. Larger writes go to rustls as they are.
const GATHER: usize = 4096;

thread_local! {
    /// Where a small vectored TLS write is gathered: kept per thread, one write at a time.
    static GATHERED: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(GATHER));
}

/// A plain or TLS byte stream over one TCP connection.
pub enum Stream {
    Plain(TcpStream),
    /// A TLS connection a client opened to one of weir's listeners. Boxed: the rustls
    /// state is a few hundred bytes, which plain connections should not carry.
    Server(Box<server::TlsStream<TcpStream>>),
    /// A TLS connection weir opened to an upstream.
    Client(Box<client::TlsStream<TcpStream>>),
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Plain(s)
    }
}

impl Stream {
    /// The TCP socket under the stream.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Server(s) => s.get_ref().0,
            Stream::Client(s) => s.get_ref().0,
        }
    }

    /// The TCP socket under the stream, to read from it directly (a PROXY protocol
    /// header comes before any TLS).
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Server(s) => s.get_mut().0,
            Stream::Client(s) => s.get_mut().0,
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// The ALPN protocol agreed in the handshake, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) => None,
            Stream::Server(s) => s.get_ref().1.alpn_protocol(),
            Stream::Client(s) => s.get_ref().1.alpn_protocol(),
        }
    }

    /// The server name (SNI) a TLS client asked for.
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Stream::Server(s) => s.get_ref().1.server_name(),
            _ => None,
        }
    }

    /// True when decrypted bytes are already waiting inside the TLS state, so a read
    /// would not block even though the socket has nothing new.
    ///
    /// Asked through `wants_read` (two field tests), not `process_new_packets`: every
    /// read futures-rustls makes from the socket, in the handshake and after it, is
    /// processed at once, so no whole record waits undecrypted; and a connection whose
    /// processing failed was handed that error by the read that met it. Processing
    /// again here found nothing to do and cost ~180 instructions per keep-alive request
    /// (`bench/profiling.md`, "TLS per request").
    fn has_plaintext(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Server(s) => !s.get_ref().1.wants_read(),
            Stream::Client(s) => !s.get_ref().1.wants_read(),
        }
    }

    /// Resolves once a read would not block (bytes, EOF, or decrypted bytes already
    /// held); it may wake spuriously.
    /// Not an `async fn`, which would hold `self` twice: every idle connection's task
    /// holds this wait.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps a second copy of `self` (bench/profiling.md, round six)"
    )]
    pub fn readable(&mut self) -> impl std::future::Future<Output = ()> + '_ {
        async move {
            if !self.has_plaintext() {
                rt::readable(self.tcp()).await;
            }
        }
    }

    /// True when an idle connection has neither been closed by its peer nor sent
    /// anything: see [`rt::is_quiet`].
    pub fn is_quiet(&self) -> bool {
        rt::is_quiet(self.tcp())
    }

    /// Half-closes: the peer sees the end of the stream (after a TLS `close_notify`),
    /// and we can still read what it sends.
    pub async fn shutdown_write(&mut self) {
        if self.is_tls() {
            let _ = rt::timeout(CLOSE_NOTIFY_TIME, self.close()).await;
        }
        rt::shutdown_write(self.tcp());
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => $e,
            Stream::Server($s) => $e,
            Stream::Client($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Server(s) => gathered(Pin::new(s), cx, bufs),
            Stream::Client(s) => gathered(Pin::new(s), cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_close(cx))
    }
}

/// Writes `bufs` to a TLS stream, a small write of several slices (an HTTP/1.1 head
/// and body) copied into one slice first: rustls seals either into one record, but for
/// several slices it allocates a list of them and walks it while copying, ~150
/// instructions per response, where the copy of a few hundred bytes costs a few dozen
/// (`bench/profiling.md`, "TLS per request"). The count returned is of `bufs`' bytes,
/// in order, as a vectored write's is.
fn gathered<W: AsyncWrite + Unpin>(
    w: Pin<&mut W>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let slices = bufs.iter().filter(|b| !b.is_empty()).count();
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    if slices < 2 || len > GATHER {
        return w.poll_write_vectored(cx, bufs);
    }
    GATHERED.with(|gathered| match gathered.try_borrow_mut() {
        Ok(mut gathered) => {
            gathered.clear();
            bufs.iter().for_each(|b| gathered.extend_from_slice(b));
            w.poll_write(cx, &gathered)
        }
        // Never while writes do not nest; if one ever did, write the slices as they are.
        Err(_) => w.poll_write_vectored(cx, bufs),
    })
}
