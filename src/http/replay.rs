//! The retry buffer: a bounded copy of the request body bytes sent on an attempt, so a
//! request the upstream did not process can be sent again even though its body was
//! already read from the client (Envoy's `per_request_buffer_limit_bytes` for retries,
//! HAProxy's `retry-on` within `tune.bufsize`).
//!
//! [`Kept`] is the copy; it outlives one attempt (the exchange holds it across servers).
//! [`Replay`] is the body an attempt sends: first the kept bytes again after a
//! [`Kept::rewind`], then the client's body from where the last attempt left it.
//!
//! **Bounded.** The copy grows to `limits.retry_buffer_bytes` at most; a body that
//! passes it drops the copy (its memory too) and is no longer replayable, as every body
//! was before. A body whose declared length is over the bound is never copied at all,
//! and an empty body (or a bound of 0) allocates nothing.
//!
//! **When it is used** (`exchange::attempt`): an h2 stream the server did not process
//! (`REFUSED_STREAM`, above a GOAWAY's last-stream-id: RFC 9113 §8.7), for any method;
//! and an HTTP/1.1 keep-alive connection the origin closed before any byte of the
//! answer, only for an idempotent method (the origin may have run the request: RFC
//! 9112 §9.3.1), as a request without a body already was.

use super::body::CopyError;
use super::decode::Source;
use super::framing::Body;

/// The body bytes sent so far on this request, while they fit the bound.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// `bytes[..kept]` were used by an attempt; the rest is the current piece's copy,
    /// taken before it is known how much of it the upstream will take.
    bytes: Vec<u8>,
    kept: usize,
    /// Where a replay stands in `bytes[..kept]` (`kept`: not replaying).
    at: usize,
    /// Largest copy; 0 when the body is not copied.
    bound: usize,
    /// Still copying: nothing used was dropped.
    keeping: bool,
    /// Client body bytes used by all attempts, copied or not.
    used: u64,
    /// The client's trailer fields, once handed out (they are taken from the source);
    /// boxed, as they are rare and the copy sits in every exchange's future.
    trailers: Option<Box<http::HeaderMap>>,
}

impl Kept {
    /// A copy of at most `bound` bytes for a body framed as `framing`: none when the
    /// body is empty or declared longer than the bound.
    pub fn new(bound: usize, framing: Body) -> Self {
        let fits = match framing {
            Body::Empty | Body::Length(0) => false,
            Body::Length(n) => n <= bound as u64,
            Body::Chunked | Body::UntilClose => bound > 0,
        };
        Kept {
            bound: if fits { bound } else { 0 },
            keeping: fits,
            ..Kept::default()
        }
    }

    /// Makes the next attempt send the body from its start; `false` when that cannot
    /// be (some byte used is no longer kept).
    pub fn rewind(&mut self) -> bool {
        if self.used == 0 {
            return true;
        }
        if !self.keeping {
            return false;
        }
        self.at = 0;
        true
    }

    /// Whether a replay may be possible for this body (it is copied while it fits).
    pub fn may_replay(&self) -> bool {
        self.keeping
    }

    fn replaying(&self) -> bool {
        self.at < self.kept
    }

    /// `n` bytes of the live piece were used.
    fn used_live(&mut self, n: usize) {
        self.used += n as u64;
        if !self.keeping {
            return;
        }
        if self.kept + n > self.bytes.len() {
            // Past the bound: the body can no longer be replayed, so nothing is held.
            self.keeping = false;
            self.bytes = Vec::new();
            self.kept = 0;
        } else {
            self.kept += n;
        }
        self.at = self.kept;
    }

    /// Copies what of the live `piece` the bound has room for, in place of the last
    /// piece's copy.
    fn copy_live(&mut self, piece: &[u8]) {
        if !self.keeping {
            return;
        }
        self.bytes.truncate(self.kept);
        let room = self.bound - self.kept;
        self.bytes
            .extend_from_slice(&piece[..piece.len().min(room)]);
    }
}

/// A request body that replays the [`Kept`] bytes first (after a rewind), then goes on
/// with the client's body `src`, copying what it sends while the bound allows.
pub(crate) struct Replay<S> {
    src: S,
    kept: Kept,
}

impl<S: Source> Replay<S> {
    pub fn new(src: S, kept: Kept) -> Self {
        Replay { src, kept }
    }

    pub fn kept(&mut self) -> &mut Kept {
        &mut self.kept
    }

    /// The client's body (where the last attempt left it) and the copy.
    pub fn into_parts(self) -> (S, Kept) {
        (self.src, self.kept)
    }
}

impl<S: Source> Source for Replay<S> {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        let kept = &mut self.kept;
        if kept.replaying() {
            return Ok(&kept.bytes[kept.at..kept.kept]);
        }
        let piece = self.src.piece().await?;
        kept.copy_live(piece);
        Ok(piece)
    }

    fn consume(&mut self, n: usize) {
        if self.kept.replaying() {
            self.kept.at += n;
            return;
        }
        self.kept.used_live(n);
        self.src.consume(n);
    }

    /// The live body's bytes as the client sent them (its DATA frame's `Bytes`, no
    /// copy); the retry copy was made when the piece was handed out. A replayed piece
    /// is weir's own copy, not lent.
    fn lend(&mut self, n: usize) -> Option<bytes::Bytes> {
        if self.kept.replaying() {
            return None;
        }
        let data = self.src.lend(n)?;
        self.kept.used_live(n);
        Some(data)
    }

    /// Only a body no longer copied (past the bound, or never within it) and not being
    /// replayed: a spliced byte cannot be kept for a retry.
    fn unread(&mut self, min: u64) -> Option<super::decode::Unread<'_>> {
        if self.kept.keeping || self.kept.replaying() {
            return None;
        }
        self.src.unread(min)
    }

    fn spliced(&mut self, n: u64) {
        self.kept.used += n;
        self.src.spliced(n);
    }

    /// Known only for the client's live body: a replayed piece has more after it.
    fn last_piece(&self) -> bool {
        !self.kept.replaying() && self.src.last_piece()
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        match self.src.trailers() {
            Some(t) => {
                if self.kept.keeping {
                    self.kept.trailers = Some(Box::new(t.clone()));
                }
                Some(t)
            }
            None => self.kept.trailers.as_deref().cloned(),
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
