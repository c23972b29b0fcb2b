//! A connection's large read buffer lent to HTTP/2 DATA frames, so that a body read
//! from an HTTP/1.1 upstream goes out to an HTTP/2 client without a copy.
//!
//! h2 takes each DATA payload as [`Bytes`] it holds until the frame is written; the
//! upstream [`Conn`](super::conn::Conn) reads into a plain `Vec<u8>` it reuses. Copying
//! each piece into a fresh `Bytes` was 1.05 of the 1.44 million instructions of a
//! 1 MiB h2c response (bench/profiling.md, "HTTP/2 round three"). Instead the buffer
//! itself goes into an `Arc`'d [`Block`], and each piece is a slice of it
//! ([`Bytes::from_owner`]). The connection reads into the buffer again only once no
//! frame holds any of it ([`Lent::reclaim`]); while frames still do, it reads into
//! another kept large buffer, and the lent one goes back to the thread's kept ones
//! ([`spare`]) when its last frame is dropped. Safe Rust reads only into initialised
//! memory, so reusing whole blocks is what saves both the copy and a fresh zeroing.
//!
//! Memory stays bounded by h2's send buffer: a connection lends only pieces of at
//! least [`MIN`] bytes (smaller ones are copied as before), and h2 holds at most
//! `SEND_BUFFER` (64 KiB, `downstream::h2`) of a stream's data beyond what the client
//! took, so at most `SEND_BUFFER / MIN` = 4 lent blocks besides the one the connection
//! reads into wait per stream for a slow client; usually one.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::spare;

/// The smallest piece lent: one DATA frame at the default SETTINGS_MAX_FRAME_SIZE.
pub const MIN: usize = 16 * 1024;

/// A buffer that goes back to the thread's kept ones when the last frame using it
/// is dropped (on whichever thread that is).
struct Block(Vec<u8>);

impl Drop for Block {
    fn drop(&mut self) {
        spare::give(std::mem::take(&mut self.0));
    }
}

/// The block as the owner of the `Bytes` handed out.
struct Owner(Arc<Block>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0 .0
    }
}

/// A buffer out on loan: the block, and one `Bytes` over all of it that pieces are
/// sliced from (one allocation per loan, not one per piece).
pub struct Lent {
    block: Arc<Block>,
    whole: Bytes,
}

impl Lent {
    pub fn new(buf: Vec<u8>) -> Self {
        let block = Arc::new(Block(buf));
        let whole = Bytes::from_owner(Owner(Arc::clone(&block)));
        Lent { block, whole }
    }

    /// All of the buffer, as it was read into.
    pub fn bytes(&self) -> &[u8] {
        &self.block.0
    }

    /// The bytes in `range`, sharing the buffer.
    pub fn piece(&self, range: Range<usize>) -> Bytes {
        self.whole.slice(range)
    }

    /// A buffer to read into again, with the bytes in `held` (not yet used) moved to
    /// its start: the lent one itself when no frame holds any of it, else a kept
    /// large buffer of the same size (the lent one is kept when its frames are gone).
    pub fn reclaim(self, held: Range<usize>) -> Vec<u8> {
        let Lent { block, whole } = self;
        drop(whole);
        match Arc::try_unwrap(block) {
            Ok(mut block) => {
                let mut buf = std::mem::take(&mut block.0);
                buf.copy_within(held, 0);
                buf
            }
            Err(block) => {
                let mut buf = spare::take(block.0.len());
                buf[..held.len()].copy_from_slice(&block.0[held]);
                buf
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_no_frame_holds_comes_back_itself_with_the_held_bytes_first() {
        let mut buf = vec![0; spare::LARGE];
        buf[10..13].copy_from_slice(b"abc");
        let at = buf.as_ptr();
        let lent = Lent::new(buf);
        assert_eq!(&lent.piece(0..10)[..], &[0; 10]);
        let back = lent.reclaim(10..13);
        assert_eq!((back.as_ptr(), &back[..3]), (at, &b"abc"[..]));
    }

    #[test]
    fn a_block_still_held_is_replaced_and_kept_once_its_frames_are_gone() {
        for _ in 0..4 {
            spare::drop_one(); // no kept large buffer: the one that comes back is ours
        }
        let mut buf = vec![0; spare::LARGE];
        buf[..5].copy_from_slice(b"hello");
        let at = buf.as_ptr();
        let lent = Lent::new(buf);
        let frame = lent.piece(0..3);
        let back = lent.reclaim(3..5);
        assert_ne!(back.as_ptr(), at);
        assert_eq!((&frame[..], &back[..2]), (&b"hel"[..], &b"lo"[..]));
        drop(frame);
        let kept = spare::take(spare::LARGE);
        assert_eq!(kept.as_ptr(), at);
    }
}
