//! Read buffers kept for reuse, so a keep-alive request does not pay for a fresh one.
//!
//! A connection gives its read buffer back whenever nothing is buffered (a client
//! between requests, while its read would block, once its request's head is parsed;
//! a surplus upstream connection),
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
//! closes cuts the list back below [`KEEP_ON_CLOSE`] ([`closing`]) when that many or
//! more are kept: keep-alive traffic, which closes nothing, reuses freely; and once a burst's
//! connections have closed, the list is down to [`KEEP_ON_CLOSE`]. Below that a closing
//! connection leaves its own buffer for the next: with a new connection per request
//! the list used to stay empty, and every connection zeroed a fresh 4 KiB (4,100 of the
//! 10,700 instructions a new connection cost over a keep-alive request: callgrind,
//! bench/profiling.md, "New connections: where the instructions go"). That floor is
//! raised to the client connections open (up to [`KEEP`]): four were too few for a
//! thread that turns over many at once (`open_clients` says why).
//!
//! The buffer a large body grows to ([`LARGE`], `body::PIECE`) is kept the same way,
//! but only [`KEEP_LARGE`] of them: an upstream connection grows to it for each large
//! response and shrinks back after, and zeroing a fresh 256 KiB was a fifth of weir's
//! instructions for a 1 MiB response over HTTP/2 (262,000 of 1.54 million: callgrind,
//! bench/h2instructions.sh).

use std::cell::RefCell;

/// The one size kept: the first read of a client or an upstream connection.
pub const SIZE: usize = 4096;

/// The other size kept: what a connection grows to for a large body.
pub const LARGE: usize = super::body::PIECE;

/// Buffers kept per thread: 128 KiB, enough for the connections one thread turns over
/// at a time.
const KEEP: usize = 32;

/// Large buffers kept per thread: 512 KiB.
const KEEP_LARGE: usize = 2;

/// Buffers kept per thread once the connections of a burst have closed: 16 KiB. While
/// more client connections are open, a closing one may leave its buffer in a list of up
/// to that many (and [`KEEP`]): see [`closing`].
const KEEP_ON_CLOSE: usize = 4;

type List = RefCell<Vec<Vec<u8>>>;

thread_local! {
    static SPARE: List = const { RefCell::new(Vec::new()) };
    static SPARE_LARGE: List = const { RefCell::new(Vec::new()) };
}

/// The list that keeps buffers of `size`, and how many it keeps; none for other sizes.
fn list(size: usize) -> Option<(&'static std::thread::LocalKey<List>, usize)> {
    match size {
        SIZE => Some((&SPARE, KEEP)),
        LARGE => Some((&SPARE_LARGE, KEEP_LARGE)),
        _ => None,
    }
}

/// A buffer of `size` bytes: a kept one when `size` is [`SIZE`] or [`LARGE`] and one is
/// kept, otherwise a new, zeroed one.
pub fn take(size: usize) -> Vec<u8> {
    if let Some(buf) = list(size).and_then(|(l, _)| pop(l)) {
        return buf;
    }
    crate::quiet::grew();
    vec![0; size]
}

/// The thread has gone quiet (`quiet`): keeps the [`KEEP_ON_CLOSE`] buffers given back
/// last, those on the pages the last requests used, and frees the rest and every large
/// one.
pub fn trim() {
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        let past = s.len().saturating_sub(KEEP_ON_CLOSE);
        s.drain(..past);
    });
    let _ = SPARE_LARGE.try_with(|s| s.borrow_mut().clear());
}

/// How many buffers of [`SIZE`] this thread keeps (for tests).
#[cfg(test)]
pub fn kept() -> usize {
    SPARE.with_borrow(Vec::len)
}

/// Frees one kept buffer of each size, if any: tests empty the thread's lists with it.
#[cfg(test)]
pub fn drop_one() {
    drop(pop(&SPARE));
    drop(pop(&SPARE_LARGE));
}

/// A connection closes with `buf`, its read buffer (empty if it held none): the buffer
/// is kept for the next connection while fewer are kept than client connections are
/// open (at least [`KEEP_ON_CLOSE`], at most [`KEEP`]: `open_clients`); otherwise it is
/// freed, and the list cut back below that bound, so a burst's leftovers go as soon as
/// its connections have closed.
pub fn closing(buf: Vec<u8>) {
    closing_within(buf, crate::open_clients::keep_on_close(KEEP_ON_CLOSE, KEEP));
}

/// [`closing`] with the list's bound given.
fn closing_within(buf: Vec<u8>, bound: usize) {
    let kept = SPARE.try_with(|s| s.borrow().len()).unwrap_or(bound);
    if kept < bound {
        drop(pop(&SPARE_LARGE));
        give(buf);
    } else {
        // Freed with `buf`: what the list holds at and past the bound, at once (all of
        // a burst's leftovers: `open_clients::kept_after_cut`). One a close drained them
        // too slowly once the bound had fallen: at a connection a second, 32 buffers
        // took half a minute.
        let keep = crate::open_clients::kept_after_cut(kept, bound);
        let _ = SPARE.try_with(|s| s.borrow_mut().truncate(keep));
        drop(pop(&SPARE_LARGE));
    }
}

/// Gives `buf` back: kept when it is of a kept size and its list has room, freed
/// otherwise.
pub fn give(buf: Vec<u8>) {
    let Some((list, keep)) = list(buf.len()) else {
        return;
    };
    // While the thread exits the list may be gone already: the buffer is just freed.
    let _ = list.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < keep {
            spare.push(buf);
        }
    });
}

/// The last buffer kept in `list`. None also while the thread exits and its list is
/// gone: a connection dropped by a thread-local executor's destructor must not panic
/// here.
fn pop(list: &'static std::thread::LocalKey<List>) -> Option<Vec<u8>> {
    list.try_with(|spare| spare.borrow_mut().pop())
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

    #[test]
    fn a_closing_connection_leaves_its_buffer_only_while_few_are_kept() {
        while pop(&SPARE).is_some() {}
        let mut buf = take(SIZE);
        buf[0] = 5;
        closing_within(buf, KEEP_ON_CLOSE);
        assert_eq!(
            take(SIZE)[0],
            5,
            "the closing connection's buffer was not kept"
        );
        for _ in 0..KEEP {
            give(vec![1; SIZE]);
        }
        for _ in 0..KEEP {
            closing_within(vec![2; SIZE], KEEP_ON_CLOSE);
        }
        let left = SPARE.with_borrow(Vec::len);
        assert!(
            left <= KEEP_ON_CLOSE,
            "{left} buffers left after the burst closed"
        );
        while pop(&SPARE).is_some() {}
    }

    #[test]
    fn with_many_clients_open_closing_connections_leave_their_buffers_for_the_next() {
        while pop(&SPARE).is_some() {}
        for _ in 0..10 {
            closing_within(vec![3; SIZE], KEEP);
        }
        assert_eq!(SPARE.with_borrow(Vec::len), 10);
        while pop(&SPARE).is_some() {}
    }

    #[test]
    fn a_quiet_trim_keeps_the_newest_few_and_no_large_one() {
        while pop(&SPARE).is_some() {}
        for i in 0..KEEP {
            give(vec![i as u8; SIZE]);
        }
        give(vec![1; LARGE]);
        trim();
        assert_eq!(SPARE_LARGE.with_borrow(Vec::len), 0);
        let left: Vec<u8> = SPARE.with_borrow(|s| s.iter().map(|b| b[0]).collect());
        let newest = (KEEP - KEEP_ON_CLOSE..KEEP)
            .map(|i| i as u8)
            .collect::<Vec<_>>();
        assert_eq!(left, newest);
        while pop(&SPARE).is_some() {}
    }

    #[test]
    fn large_buffers_are_kept_as_they_were_up_to_their_own_bound() {
        let mut buf = take(LARGE);
        buf[LARGE - 1] = 9;
        let at = buf.as_ptr();
        give(buf);
        let again = take(LARGE);
        assert_eq!((again.as_ptr(), again[LARGE - 1]), (at, 9));
        for _ in 0..KEEP_LARGE + 3 {
            give(vec![1; LARGE]);
        }
        assert_eq!(SPARE_LARGE.with_borrow(Vec::len), KEEP_LARGE);
        for _ in 0..KEEP_LARGE {
            drop_one();
        }
        assert_eq!(SPARE_LARGE.with_borrow(Vec::len), 0);
    }
}
