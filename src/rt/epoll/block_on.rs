//! Driving a future on the calling thread, with that thread's own reactor.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::reactor::{self, Reactor, Turn};

/// The waker of the future being driven: it marks the future for another poll and, if
/// the thread sleeps in `epoll_wait`, wakes it (an eventfd write; wakes from the thread
/// itself, the usual case, cost no system call).
struct Parker {
    woken: AtomicBool,
    reactor: Arc<Reactor>,
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, SeqCst) {
            self.reactor.unblock();
        }
    }
}

/// Polls `fut` until it completes. Between polls the thread takes I/O events and due
/// timers from its reactor, sleeping in `epoll_wait` only when `fut` has not asked to be
/// polled again.
pub fn block_on<T>(fut: impl Future<Output = T>) -> T {
    let reactor = Arc::new(Reactor::new().expect("create an epoll reactor"));
    let _current = reactor::enter(reactor.clone());
    let parker = Arc::new(Parker {
        woken: AtomicBool::new(false),
        reactor: reactor.clone(),
    });
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut turn = Turn::new();
    loop {
        parker.woken.store(false, SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        reactor.turn(&parker.woken, &mut turn);
    }
}
