//! Read buffers kept for reuse, so a keep-alive request does not pay for a fresh one.
//!
//! A connection gives its read buffer back whenever nothing is buffered (a client
//! between requests, or while its request is upstream; a surplus upstream connection),
//! so that thousands of idle connections hold no buffer at all. Allocating the next one
//! zeroed (the only way to read into it without `unsafe`) cost 4,100 of the 40,500
//! instructions of a small proxied request, a tenth: callgrind, bench/instructions.sh.
//! Instead a freed buffer of the usual size goes to a short list kept per thread, and
//! the next connection on that thread to need one takes it as it is.
//!
//! A reused buffer still holds an earlier message's bytes. That is safe because a
//! [`Conn`](super::conn::Conn) only ever hands out the bytes it read into the buffer
//! itself (`start..end`); nginx reuses its buffers the same way.
//!
//! Kept buffers must not outlive the traffic that needs them: a kept 4 KiB buffer holds
//! on to the whole allocator page it sits in, so a list left full after a burst would
//! keep up to [`KEEP`] pages that the burst's other buffers emptied. So a connection that
//! closes takes one kept buffer with it ([`drop_one`]): keep-alive traffic, which closes
//! nothing, reuses freely; traffic that closes connections keeps about as many as it
//! gives; and once a burst's connections have closed, the list is empty.

use std::cell::RefCell;

/// The one size kept: the first read of a client or an upstream connection.
pub const SIZE: usize = 4096;

/// Buffers kept per thread: 128 KiB, enough for the connections one thread turns over
/// at a time.
const KEEP: usize = 32;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `size` bytes: a kept one when `size` is [`SIZE`] and one is kept,
/// otherwise a new, zeroed one.
pub fn take(size: usize) -> Vec<u8> {
    if size == SIZE {
        if let Some(buf) = pop() {
            return buf;
        }
    }
    vec![0; size]
}

/// Frees one kept buffer, if any: a connection closing (see the module's doc).
pub fn drop_one() {
    drop(pop());
}

/// Gives `buf` back: kept when it is of [`SIZE`] and the list has room, freed otherwise.
pub fn give(buf: Vec<u8>) {
    if buf.len() != SIZE {
        return;
    }
    // While the thread exits the list may be gone already: the buffer is just freed.
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < KEEP {
            spare.push(buf);
        }
    });
}

/// The last kept buffer. None also while the thread exits and its list is gone: a
/// connection dropped by a thread-local executor's destructor must not panic here.
fn pop() -> Option<Vec<u8>> {
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_of_the_kept_size_comes_back_as_it_was() {
        let mut buf = take(SIZE);
        buf[0] = 7;
        let at = buf.as_ptr();
        give(buf);
        let again = take(SIZE);
        assert_eq!(again.as_ptr(), at);
        assert_eq!(again.len(), SIZE);
        assert_eq!(again[0], 7);
    }

    #[test]
    fn other_sizes_are_not_kept_and_the_list_is_bounded() {
        give(vec![1; SIZE * 2]);
        assert!(take(SIZE * 2).iter().all(|&b| b == 0));
        for _ in 0..KEEP + 10 {
            give(vec![1; SIZE]);
        }
        assert_eq!(SPARE.with_borrow(Vec::len), KEEP);
        for _ in 0..KEEP {
            drop_one();
        }
        assert_eq!(SPARE.with_borrow(Vec::len), 0);
        drop_one();
    }
}
