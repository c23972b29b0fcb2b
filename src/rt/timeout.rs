//! [`timeout`]: a future raced against a timer, as one hand-written future.
//!
//! Most reads and writes complete on their first poll, so the timer is filed only when
//! the wrapped future is still pending after it: filing one is not free (a lock and a
//! tree insert on the epoll reactor; a wake of the reactor thread in async-io), and on
//! the hot path it was a timer per system call.
//!
//! Written as an `async fn` taking the future by value and pinning it into a local,
//! the wrapper stored the future twice (rustc keeps an `async fn`'s argument in the
//! future's prefix for its whole life and moves it into the body's local), so every
//! timeout-wrapped read, write and phase cost its parent future its size again
//! (bench/profiling.md, "Idle keep-alive connection: where the bytes go"). This
//! struct holds the future once, beside the duration or, once filed, the timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::{Backend, Chosen};

type Timer = <Chosen as Backend>::Timer;

/// Runs `fut` for at most `d`; `None` when the time ran out first. The time is
/// counted from the first poll that finds `fut` pending.
pub fn timeout<F: Future>(d: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        clock: Clock::Unfiled(d),
    }
}

pin_project! {
    /// The future [`timeout`] returns.
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        clock: Clock,
    }
}

/// The timer, filed at the first poll that finds the future pending; until then, the
/// duration to file it with (they share the space).
enum Clock {
    Unfiled(Duration),
    Filed(Timer),
}

impl<F: Future> Future for Timeout<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(done) = this.fut.poll(cx) {
            return Poll::Ready(Some(done));
        }
        if let Clock::Unfiled(d) = *this.clock {
            *this.clock = Clock::Filed(Chosen::timer(d));
        }
        let Clock::Filed(timer) = this.clock else {
            return Poll::Pending; // not reached: filed just above
        };
        Pin::new(timer).poll(cx).map(|_| None)
    }
}
