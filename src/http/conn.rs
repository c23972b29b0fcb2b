//! A stream with a read buffer that survives between messages.
//!
//! Heads are parsed in place from the buffer; bytes past a head (a body, or the next
//! pipelined request) stay in it for whoever reads next. The same buffer doubles as the
//! body copy buffer, so relaying costs no second allocation. A first-size buffer given
//! up while idle goes to the thread's [`spare`] list, and a new one comes from there.
//! A large buffer can also be lent to HTTP/2 frames piece by piece ([`Conn::lend`],
//! [`lend`]): the body then goes out without a copy.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncReadExt};

use super::lend::{self, Lent};
use super::spare;

pub struct Conn<S> {
    pub io: S,
    buf: Vec<u8>,
    /// The buffer while frames hold pieces of it (`buf` is empty then). Boxed: only a
    /// large body relayed to HTTP/2 frames lends, once per buffer, and inline it made
    /// every connection, idle ones included, 32 bytes larger.
    lent: Option<Box<Lent>>,
    start: usize,
    end: usize,
    max: usize,
    /// The size the buffer starts at, and comes back at after a [`release`](Self::release).
    initial: usize,
}

impl<S> Conn<S> {
    /// `cap` bytes to begin with (allocated on the first read), growing up to `max`
    /// when one head needs it.
    pub fn new(io: S, cap: usize, max: usize) -> Self {
        Conn {
            io,
            buf: Vec::new(),
            lent: None,
            start: 0,
            end: 0,
            max: max.max(cap),
            initial: cap.min(max),
        }
    }

    /// Bytes read but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.bytes()[self.start..self.end]
    }

    /// All of the buffer, wherever it is.
    fn bytes(&self) -> &[u8] {
        match &self.lent {
            Some(lent) => lent.bytes(),
            None => &self.buf,
        }
    }

    /// The unconsumed bytes and the stream at once (a tunnel relays the first, then
    /// reads the second).
    pub fn parts(&mut self) -> (&[u8], &mut S) {
        let bytes = match &self.lent {
            Some(lent) => lent.bytes(),
            None => &self.buf,
        };
        (&bytes[self.start..self.end], &mut self.io)
    }

    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// True when the unconsumed bytes fill the largest buffer allowed.
    pub fn is_full(&self) -> bool {
        self.end - self.start >= self.max
    }

    /// Lets the buffer grow to at least `max` (bodies copy better in larger pieces).
    pub fn allow(&mut self, max: usize) {
        self.max = self.max.max(max);
    }

    /// The buffer's current size.
    pub fn capacity(&self) -> usize {
        self.bytes().len()
    }

    /// The first `n` buffered bytes, consumed, as `Bytes` that share the buffer: a
    /// large body's piece handed to an HTTP/2 frame without a copy ([`lend`]). `None`,
    /// and nothing consumed, for a piece under [`lend::MIN`] or a buffer not grown for
    /// a large body: the caller copies those.
    pub fn lend(&mut self, n: usize) -> Option<Bytes> {
        debug_assert!(n <= self.end - self.start);
        if n < lend::MIN || self.capacity() != spare::LARGE {
            return None;
        }
        let buf = &mut self.buf;
        let lent = self
            .lent
            .get_or_insert_with(|| Box::new(Lent::new(std::mem::take(buf))));
        let piece = lent.piece(self.start..self.start + n);
        self.consume(n);
        Some(piece)
    }

    /// Takes the buffer back from a loan before writing into it: the same one if no
    /// frame holds it any more, else another with the unconsumed bytes copied over.
    /// Out of line: HTTP/1.1 never lends, and its reads should not carry this code.
    #[cold]
    #[inline(never)]
    fn own(&mut self) {
        if let Some(lent) = self.lent.take() {
            self.buf = lent.reclaim(self.start..self.end);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Grows the buffer to at least `size` now: a large body then moves in large pieces.
    pub fn grow_to(&mut self, size: usize) {
        self.max = self.max.max(size);
        if self.capacity() >= size {
            return;
        }
        if self.lent.is_some() {
            self.own();
        }
        if size != spare::LARGE {
            self.buf.resize(size, 0);
            return;
        }
        // A kept large buffer, not a fresh one zeroed: see `spare`.
        let mut large = spare::take(size);
        let held = self.end - self.start;
        large[..held].copy_from_slice(&self.buf[self.start..self.end]);
        spare::give(std::mem::replace(&mut self.buf, large));
        self.start = 0;
        self.end = held;
    }

    /// Gives back memory grown for a body, once nothing is buffered: an idle keep-alive
    /// connection should cost a few KiB, not the largest body it ever carried.
    pub fn shrink_to(&mut self, size: usize) {
        if self.capacity() > size && self.start == self.end {
            self.lent = None; // kept again once its frames are gone
            spare::give(std::mem::replace(&mut self.buf, spare::take(size)));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the buffer while nothing is buffered: a connection that only waits for
    /// its next request then holds no buffer at all (nginx does the same). The next read
    /// allocates it again.
    pub fn release(&mut self) {
        if let Some(buf) = self.take_idle_buffer() {
            spare::give(buf);
        }
    }

    /// As [`release`](Self::release), but frees the buffer instead of keeping it for
    /// the thread's next connection: for a connection that has idled a while, trimmed
    /// off any thread (`upstream::pool`'s reaper), whose buffer no request is waiting for.
    pub fn free_buffer(&mut self) {
        drop(self.take_idle_buffer());
    }

    /// The buffer, taken off the connection, if nothing is buffered in it.
    fn take_idle_buffer(&mut self) -> Option<Vec<u8>> {
        if self.start != self.end {
            return None;
        }
        self.lent = None; // kept again once its frames are gone
        self.start = 0;
        self.end = 0;
        Some(std::mem::take(&mut self.buf))
    }

    /// Makes room after the buffered bytes: compact first, then grow up to `max`.
    fn make_room(&mut self) {
        if self.lent.is_some() {
            self.own();
        }
        if self.buf.is_empty() {
            self.buf = spare::take(self.initial);
        }
        if self.end < self.buf.len() {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else if self.buf.len() < self.max {
            let grown = (self.buf.len() * 2).clamp(1024, self.max);
            self.buf.resize(grown, 0);
        }
    }
}

/// A closing connection leaves its buffer for the next one while the thread keeps few,
/// and otherwise frees it and one kept one, so that once a burst's connections have
/// closed few kept buffers hold memory ([`spare::closing`]).
impl<S> Drop for Conn<S> {
    fn drop(&mut self) {
        let buf = match self.lent {
            None => std::mem::take(&mut self.buf),
            Some(_) => Vec::new(), // frames hold it: freed with the last of them
        };
        spare::closing(buf);
    }
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Reads more bytes into the buffer; `Ok(0)` at end of stream. Call only when not
    /// [`is_full`](Self::is_full).
    /// Not an `async fn`, which would hold `self` twice: every idle connection's task
    /// holds this read (bench/profiling.md, round six).
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps a second copy of `self` (bench/profiling.md, round six)"
    )]
    pub fn fill(&mut self) -> impl Future<Output = io::Result<usize>> + '_ {
        async move {
            self.make_room();
            if self.end == self.buf.len() {
                return Err(io::Error::other("read buffer full"));
            }
            let n = self.io.read(&mut self.buf[self.end..]).await?;
            self.end += n;
            Ok(n)
        }
    }

    /// As [`fill`](Self::fill), for a connection with nothing buffered that waits for
    /// its peer's next message: while the read would block it holds no buffer (it goes
    /// back to the thread's [`spare`] list, as in [`release`](Self::release)), and the
    /// next try takes one again. A connection accepted before its request arrived is
    /// read at once (`rt::readable`), and used to hold the 4 KiB it took while it
    /// waited: under load a third of them did, and the list ran dry
    /// (bench/profiling.md, "New connections, round two"). nginx frees its buffer on
    /// `EAGAIN` the same way.
    pub fn fill_idle(&mut self) -> impl Future<Output = io::Result<usize>> + '_ {
        std::future::poll_fn(move |cx| {
            self.make_room();
            if self.end == self.buf.len() {
                return Poll::Ready(Err(io::Error::other("read buffer full")));
            }
            match Pin::new(&mut self.io).poll_read(cx, &mut self.buf[self.end..]) {
                Poll::Ready(Ok(n)) => {
                    self.end += n;
                    Poll::Ready(Ok(n))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.release();
                    Poll::Pending
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::{self, TcpStream};
    use futures_lite::AsyncWriteExt;

    /// A connection grown for a large body, over loopback, and the writing end.
    async fn pair() -> (Conn<TcpStream>, TcpStream) {
        let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let writer = rt::connect(rt::local_addr(&listener).unwrap())
            .await
            .unwrap();
        let (reader, _) = rt::accept(&listener).await.unwrap();
        let mut conn = Conn::new(reader, spare::SIZE, spare::LARGE);
        conn.grow_to(spare::LARGE);
        (conn, writer)
    }

    /// Reads until `n` bytes are buffered.
    async fn fill_to(conn: &mut Conn<TcpStream>, n: usize) {
        while conn.buffered().len() < n {
            assert!(conn.fill().await.unwrap() > 0, "the writer closed");
        }
    }

    /// A new connection per request reuses the buffer the last one closed with, as it
    /// is, instead of zeroing a fresh 4 KiB (bench/profiling.md, "New connections").
    #[test]
    fn a_closed_connections_buffer_serves_the_next_connection() {
        rt::Runtime::new().block_on(1, async {
            for _ in 0..64 {
                spare::drop_one(); // no kept buffer from another test on this thread
            }
            let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
            let addr = rt::local_addr(&listener).unwrap();
            let mut writer = rt::connect(addr).await.unwrap();
            let (reader, _) = rt::accept(&listener).await.unwrap();
            let mut conn = Conn::new(reader, spare::SIZE, spare::LARGE);
            writer.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            fill_to(&mut conn, 18).await;
            drop(conn);
            let next = spare::take(spare::SIZE);
            assert_eq!(&next[..18], b"GET / HTTP/1.1\r\n\r\n", "a fresh buffer");
        });
    }

    #[test]
    fn large_pieces_are_lent_and_a_held_buffer_is_never_read_into() {
        rt::Runtime::new().block_on(1, async {
            for _ in 0..4 {
                spare::drop_one(); // no kept large buffer from another test
            }
            let (mut conn, mut writer) = pair().await;
            writer.write_all(&[1; 2 * lend::MIN]).await.unwrap();
            fill_to(&mut conn, 2 * lend::MIN).await;
            assert!(
                conn.lend(lend::MIN - 1).is_none(),
                "a small piece is copied"
            );
            let first = conn.lend(lend::MIN).unwrap();
            let second = conn.lend(lend::MIN).unwrap();
            assert_eq!(conn.buffered().len(), 0);
            // The next read goes elsewhere while frames hold the first buffer.
            writer.write_all(&[2; lend::MIN]).await.unwrap();
            fill_to(&mut conn, lend::MIN).await;
            assert!(first.iter().chain(second.iter()).all(|&b| b == 1));
            let third = conn.lend(lend::MIN).unwrap();
            assert!(third.iter().all(|&b| b == 2));
            let in_first = |b: &Bytes| {
                let from_first = (b.as_ptr() as usize).wrapping_sub(first.as_ptr() as usize);
                from_first < spare::LARGE
            };
            assert!(in_first(&second) && !in_first(&third));
            // Once no frame holds it, the buffer is read into again, not a new one.
            drop(third);
            let at = conn.buffered().as_ptr();
            writer.write_all(&[3; lend::MIN]).await.unwrap();
            fill_to(&mut conn, lend::MIN).await;
            assert_eq!(conn.buffered().as_ptr(), at);
            assert!(conn.buffered().iter().all(|&b| b == 3));
        });
    }
}
