//! [`Scratch`] kept per thread while connections idle.
//!
//! A connection's scratch (the request and response heads with their header storage,
//! the normalised path, a byte string, the client's reply buffer) keeps its capacity
//! from one request to the next, so a warm request allocates none of it
//! (`tests/alloc_free.rs`). Held by the connection, though, that was about ten heap
//! blocks for every idle keep-alive connection, rounded up by the allocator: most of
//! what an idle connection cost (`bench/profiling.md`, "Idle keep-alive connection:
//! where the bytes go"). So an HTTP/1.x connection gives its scratch to its thread's
//! list when it starts to wait for the next request, and takes one back when that
//! request's first bytes arrive: keep-alive traffic reuses them as before, and idle
//! connections hold none (nginx likewise frees its request pool between requests).
//!
//! Kept scratches must not outlive the traffic that needs them, as `http::spare`'s
//! buffers must not: each is about ten heap blocks, and a block kept after a burst pins
//! the allocator page it sits in, which the burst's other blocks emptied. A list left
//! full (256 scratches) pinned pages all over a burst's memory: on the portable runtime
//! beside two CPU hogs, a burst of 3,000 connections kept 2.7 to 3.3 MiB of the ~6.5
//! it took once they had closed (50% to 60% back; tests/burst_memory.rs). So a closing
//! connection leaves its scratch for the next only while few are kept
//! ([`KEEP_ON_CLOSE`]), and otherwise frees it and cuts the list back ([`closing`]): once a
//! burst's connections have closed, the list is down to a few, and the same bursts
//! kept 2.0 to 2.5 MiB (62% to 69% back). "Few" is as many as client connections are
//! open, at least [`KEEP_ON_CLOSE`]: with four, a thread turning over many new
//! connections at once grew a fresh scratch for most of them (`open_clients`).

use std::cell::RefCell;

use super::Scratch;

/// Scratches kept per thread: at least the connections one thread has between requests
/// at a time under load (50 in the bench), and little memory (about 1 KiB each).
const KEEP: usize = 256;

/// Scratches kept per thread once a burst's connections have closed. While more client
/// connections are open, a closing one may leave its scratch in a list of up to that
/// many (and [`KEEP`]): see [`closing`].
const KEEP_ON_CLOSE: usize = 4;

/// A scratch that grew past this (a very large head) is freed rather than kept.
const LARGEST: usize = 16 * 1024;

thread_local! {
    #[allow(
        clippy::vec_box,
        reason = "connections hold a Box (8 bytes in their task, not 280); the list moves it as is"
    )]
    static KEPT: RefCell<Vec<Box<Scratch>>> = const { RefCell::new(Vec::new()) };
}

/// A scratch for the next request: a kept one if the thread has one.
///
/// Counts a request started on this thread for the quiet-time trim (`quiet`): every
/// HTTP/1.x request (as its first bytes arrive) and HTTP/2 stream takes one here. Out
/// of line, as before the count: inlined, it tipped its caller (`connection::resume`)
/// out of line, 20 instructions a request more (callgrind).
#[inline(never)]
pub(crate) fn take() -> Box<Scratch> {
    crate::quiet::started();
    let kept = KEPT.try_with(|k| k.borrow_mut().pop()).ok().flatten();
    kept.unwrap_or_else(grown)
}

/// A fresh scratch: the list ran dry, so the thread is armed for a quiet-time trim.
#[cold]
fn grown() -> Box<Scratch> {
    crate::quiet::grew();
    Box::default()
}

/// The thread has gone quiet (`quiet`): keeps the [`KEEP_ON_CLOSE`] scratches given
/// back last and frees the rest.
pub(crate) fn trim() {
    let _ = KEPT.try_with(|k| {
        let mut k = k.borrow_mut();
        let past = k.len().saturating_sub(KEEP_ON_CLOSE);
        k.drain(..past);
    });
}

/// Gives `s` back for the thread's next request; freed if the list is full or `s`
/// grew too large. While the thread exits the list may be gone: `s` is just freed.
/// An h2 upstream's answer map left in it (an HTTP/1.x client never takes it) is
/// dropped: a parked scratch holds no request's data.
pub(crate) fn give(mut s: Box<Scratch>) {
    if s.capacity() > LARGEST {
        return;
    }
    s.res.h2_fields.clear();
    let _ = KEPT.try_with(|k| {
        let mut k = k.borrow_mut();
        if k.len() < KEEP {
            k.push(s);
        }
    });
}

/// How many scratches this thread keeps (for tests).
#[cfg(test)]
pub(crate) fn kept() -> usize {
    KEPT.with_borrow(Vec::len)
}

/// A connection closes with `s`, its scratch if it holds one: kept for the next
/// connection while fewer are kept than client connections are open (at least
/// [`KEEP_ON_CLOSE`], at most [`KEEP`]: `open_clients`), otherwise freed, and the list
/// cut back below that bound, so a burst's leftovers go once its connections close.
pub(crate) fn closing(s: Option<Box<Scratch>>) {
    closing_within(s, crate::open_clients::keep_on_close(KEEP_ON_CLOSE, KEEP));
}

/// [`closing`] with the list's bound given.
fn closing_within(s: Option<Box<Scratch>>, bound: usize) {
    let kept = KEPT.try_with(|k| k.borrow().len()).unwrap_or(bound);
    if kept < bound {
        if let Some(s) = s {
            give(s);
        }
    } else {
        // `s` is freed, and what the list holds at and past the bound with it, at once
        // (see `http::spare::closing`: one a close was too slow once the bound fell).
        let keep = crate::open_clients::kept_after_cut(kept, bound);
        let _ = KEPT.try_with(|k| k.borrow_mut().truncate(keep));
    }
}

impl Scratch {
    /// Bytes of memory its buffers hold.
    fn capacity(&self) -> usize {
        let req = &self.req;
        let strings = req.method.capacity()
            + req.target.capacity()
            + req.original_target.capacity()
            + self.res.reason.capacity();
        let h1 = self.h1.as_ref().map_or(0, |r| r.capacity());
        let vecs = self.bytes.capacity() + self.path.capacity() + h1;
        strings + vecs + req.headers.capacity() + self.res.headers.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_connections_leave_only_a_few_scratches_kept() {
        while take_kept().is_some() {}
        // A burst's connections went idle (filling the list), then closed.
        for _ in 0..KEEP {
            give(Box::default());
        }
        for _ in 0..KEEP {
            closing_within(None, KEEP_ON_CLOSE);
        }
        let left = KEPT.with_borrow(Vec::len);
        assert!(left < KEEP_ON_CLOSE, "{left} kept after the burst closed");
        // With few kept, a closing connection's own scratch stays for the next one.
        closing_within(Some(Box::default()), KEEP_ON_CLOSE);
        assert_eq!(KEPT.with_borrow(Vec::len), left + 1);
        while take_kept().is_some() {}
    }

    #[test]
    fn a_quiet_trim_keeps_only_the_newest_few() {
        while take_kept().is_some() {}
        for _ in 0..KEEP {
            give(Box::default());
        }
        let newest = KEPT.with_borrow(|k| &*k[KEEP - 1] as *const Scratch);
        trim();
        assert_eq!(KEPT.with_borrow(Vec::len), KEEP_ON_CLOSE);
        assert_eq!(take_kept().map(|s| &*s as *const Scratch), Some(newest));
        while take_kept().is_some() {}
    }

    fn take_kept() -> Option<Box<Scratch>> {
        KEPT.with_borrow_mut(Vec::pop)
    }

    #[test]
    fn a_given_scratch_comes_back_with_its_memory() {
        let mut s = take();
        s.req.target.push_str("/kept");
        let at = s.req.target.as_ptr();
        give(s);
        let again = take();
        assert_eq!(again.req.target.as_ptr(), at);
    }

    #[test]
    fn a_parked_scratch_holds_no_upstream_answer_map() {
        let mut s = take();
        s.res.h2_fields.keep(http::HeaderMap::new());
        give(s);
        assert!(take().res.h2_fields.take().is_none());
    }

    #[test]
    fn a_grown_scratch_is_freed_and_the_list_is_bounded() {
        let mut big = Box::<Scratch>::default();
        big.bytes.reserve(LARGEST + 1);
        give(big);
        assert_eq!(KEPT.with_borrow(Vec::len), 0);
        for _ in 0..KEEP + 10 {
            give(Box::default());
        }
        assert_eq!(KEPT.with_borrow(Vec::len), KEEP);
    }
}
