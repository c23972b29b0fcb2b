//! Sleeping until a deadline, on the reactor's timer list (no timerfd, no extra thread:
//! the next deadline becomes `epoll_wait`'s timeout).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::reactor::{self, Reactor};

/// Resolves at its deadline; dropping it early takes it off the reactor's list.
pub struct Timer {
    at: Instant,
    filed: Option<(Arc<Reactor>, u64)>,
}

impl Timer {
    pub fn after(d: Duration) -> Timer {
        let at = Instant::now()
            .checked_add(d)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        Timer { at, filed: None }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            if let Some((reactor, id)) = self.filed.take() {
                reactor.cancel_timer(self.at, id);
            }
            return Poll::Ready(());
        }
        let at = self.at;
        match &self.filed {
            Some((reactor, id)) => {
                reactor.set_timer(at, Some(*id), cx.waker());
            }
            None => {
                let reactor = reactor::current();
                let id = reactor.set_timer(at, None, cx.waker());
                self.filed = Some((reactor, id));
            }
        }
        Poll::Pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some((reactor, id)) = self.filed.take() {
            reactor.cancel_timer(self.at, id);
        }
    }
}
