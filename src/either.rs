//! [`Either`]: one of two futures with the same output, chosen when it is made.
//!
//! A body source that wraps another (a deadline, a choice of peer) would await its
//! inner source's piece in an `async fn` of its own: one more state machine that every
//! poll of every piece enters and leaves (~70 instructions a request for the deadline
//! wrapper: bench/profiling.md, "Small keep-alive requests, round seven"). Handing out
//! the inner future itself, or the slow path's, as an `Either` costs a match a poll.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// One of two futures with the same output, polled in place.
    #[project = Side]
    pub(crate) enum Either<A, B> {
        Left { #[pin] f: A },
        Right { #[pin] f: B },
    }
}

impl<A: Future, B: Future<Output = A::Output>> Future for Either<A, B> {
    type Output = A::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        match self.project() {
            Side::Left { f } => f.poll(cx),
            Side::Right { f } => f.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_side_gives_its_own_future_output() {
        let left: Either<_, std::future::Ready<u8>> = Either::Left { f: async { 1u8 } };
        let right: Either<std::future::Ready<u8>, _> = Either::Right { f: async { 2u8 } };
        assert_eq!(futures_lite::future::block_on(left), 1);
        assert_eq!(futures_lite::future::block_on(right), 2);
    }
}
