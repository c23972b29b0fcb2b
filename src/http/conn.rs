//! A stream with a read buffer that survives between messages.
//!
//! Heads are parsed in place from the buffer; bytes past a head (a body, or the next
//! pipelined request) stay in it for whoever reads next. The same buffer doubles as the
//! body copy buffer, so relaying costs no second allocation. A first-size buffer given
//! up while idle goes to the thread's [`spare`] list, and a new one comes from there.

use std::io;

use futures_lite::{AsyncRead, AsyncReadExt};

use super::spare;

pub struct Conn<S> {
    pub io: S,
    buf: Vec<u8>,
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
            start: 0,
            end: 0,
            max: max.max(cap),
            initial: cap.min(max),
        }
    }

    /// Bytes read but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The unconsumed bytes and the stream at once (a tunnel relays the first, then
    /// reads the second).
    pub fn parts(&mut self) -> (&[u8], &mut S) {
        (&self.buf[self.start..self.end], &mut self.io)
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
        self.buf.len()
    }

    /// Grows the buffer to at least `size` now: a large body then moves in large pieces.
    pub fn grow_to(&mut self, size: usize) {
        self.max = self.max.max(size);
        if self.buf.len() >= size {
            return;
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
        if self.buf.len() > size && self.start == self.end {
            spare::give(std::mem::replace(&mut self.buf, spare::take(size)));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the buffer while nothing is buffered: a connection that only waits for
    /// its next request then holds no buffer at all (nginx does the same). The next read
    /// allocates it again.
    pub fn release(&mut self) {
        if self.start == self.end {
            spare::give(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room after the buffered bytes: compact first, then grow up to `max`.
    fn make_room(&mut self) {
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

/// A closing connection frees its buffer and one kept one, so that once a burst's
/// connections have closed no kept buffer holds its memory ([`spare`]).
impl<S> Drop for Conn<S> {
    fn drop(&mut self) {
        spare::drop_one();
    }
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Reads more bytes into the buffer; `Ok(0)` at end of stream. Call only when not
    /// [`is_full`](Self::is_full).
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.make_room();
        if self.end == self.buf.len() {
            return Err(io::Error::other("read buffer full"));
        }
        let n = self.io.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}
