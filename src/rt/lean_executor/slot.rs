//! A worker's placed tasks (the contract's "Placement" rule): a queue only its thread
//! takes from, and how a task placed there is woken from any thread.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use async_task::Runnable;

use super::{lock, Queue, State, WORKER};

/// One thread's placed tasks (`spawn_on`): only that thread runs them.
#[derive(Default)]
pub(super) struct Slot {
    queue: Queue,
    /// `!queue.is_empty()`, set under `queue`'s lock after every change, so that its
    /// thread can skip the lock when nothing is placed: it looks here on every pass and
    /// whenever its own queue is empty (+398 instructions per keep-alive request with
    /// the lock, `bench/profiling.md`, "Small keep-alive requests, round five").
    queued: AtomicBool,
    /// The waker of the thread's `block_on`, once it runs: a task placed or woken from
    /// another thread wakes it.
    pub(super) thread: Mutex<Option<Waker>>,
    /// Its `run` is over: tasks placed here are queued as unplaced ones (so the last
    /// handle's drop can still cancel them). Read and set under `queue`'s lock.
    closed: AtomicBool,
}

impl Slot {
    /// Queues a placed task, waking its thread unless that thread is the one queuing
    /// it from inside a task (its loop then comes round to the slot by itself).
    pub(super) fn schedule(self: &Arc<Self>, runnable: Runnable, state: &Arc<State>) {
        let mut queue = lock(&self.queue);
        if self.closed.load(SeqCst) {
            drop(queue);
            return state.schedule(runnable);
        }
        queue.push_back(runnable);
        // Stored before the wake below, which is what brings the thread round to `pop`.
        self.queued.store(true, SeqCst);
        drop(queue);
        let on_own_thread = WORKER
            .try_with(|w| match w.borrow().as_ref() {
                Some(w) if Arc::ptr_eq(&w.slot, self) => {
                    if let Some(own) = w.asleep.borrow().as_ref() {
                        own.wake_by_ref(); // woken in a reactor turn: see `Worker::push`
                    }
                    true
                }
                _ => false,
            })
            .unwrap_or(false);
        if !on_own_thread {
            if let Some(thread) = lock(&self.thread).as_ref() {
                thread.wake_by_ref();
            }
        }
    }

    /// The next placed task, for the slot's own thread; without a lock when none is.
    ///
    /// No task is left unrun by the unlocked look: `schedule` stores `queued` before it
    /// wakes the thread, and a wake makes `block_on` poll the loop again, which comes
    /// here after it (the waker's own synchronisation orders the store before that
    /// load). If `schedule` found no waker to wake yet, it took `thread`'s lock before
    /// the loop stored its waker there, and the loop looks here only after that (see
    /// `work`), so the store is seen through that lock. The same thread placing a task
    /// sees its own store. A stale `true` only costs the lock.
    pub(super) fn pop(&self) -> Option<Runnable> {
        if !self.queued.load(SeqCst) {
            return None;
        }
        let mut queue = lock(&self.queue);
        let next = queue.pop_front();
        self.queued.store(!queue.is_empty(), SeqCst);
        next
    }

    /// Ends placement here (its `run` is over): what is queued goes to the shared queue.
    pub(super) fn close(&self, state: &State) {
        let mut queue = lock(&self.queue);
        self.closed.store(true, SeqCst);
        lock(&state.shared).extend(queue.drain(..));
        self.queued.store(false, SeqCst);
    }
}
