//! Polling a future only after it asked to be polled.
//!
//! An executor's `run(fut)` polls `fut` each time the thread comes back from its
//! reactor, whether or not `fut` was woken. weir's main future holds the accept loop and
//! two signal watchers, and async-signal answers every poll with a `read` of its pipe: two
//! wasted system calls per reactor turn under load. [`Gated`] remembers whether the
//! inner future's waker fired since its last poll and skips the poll when it did not.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// `fut`, polled only when its own waker has fired (and once at the start).
pub(crate) struct Gated<F> {
    fut: Pin<Box<F>>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// The inner future's waker: notes the wake, then passes it on to the outer one.
struct Flag {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        let outer = self.outer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = outer.as_ref() {
            w.wake_by_ref();
        }
    }
}

impl<F: Future> Gated<F> {
    pub(crate) fn new(fut: F) -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            outer: Mutex::new(None),
        });
        Gated {
            fut: Box::pin(fut),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            // Stored before `woken` is read, so a wake in between is not lost.
            let mut outer = this
                .flag
                .outer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        if !this.flag.woken.swap(false, SeqCst) {
            return Poll::Pending;
        }
        this.fut
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}
