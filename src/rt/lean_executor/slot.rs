//! A worker's placed tasks (the contract's "Placement" rule): a queue only its thread
//! takes from, and how a task placed there is woken from any thread.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use async_task::Runnable;

use super::flagged::Flagged;
use super::{lock, State, WORKER};

/// One thread's placed tasks (`spawn_on`): only that thread runs them.
#[derive(Default)]
pub(super) struct Slot {
    /// Looked at on every pass of the thread's loop, nearly always empty: flagged.
    pub(super) queue: Flagged,
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
        let mut queue = self.queue.lock();
        if self.closed.load(SeqCst) {
            drop(queue);
            return state.schedule(runnable);
        }
        queue.push_back(runnable);
        drop(queue); // stores the flag, before the wake below (`Flagged::pop`)
        let on_own_thread = WORKER
            .try_with(|w| match w.borrow().as_ref() {
                Some(w) if Arc::ptr_eq(&w.slot, self) => {
                    w.wake_if_asleep(); // woken in a reactor turn: see `Worker::push`
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

    /// Ends placement here (its `run` is over): what is queued goes to the shared queue.
    pub(super) fn close(&self, state: &State) {
        let mut queue = self.queue.lock();
        self.closed.store(true, SeqCst);
        state.shared.lock().extend(queue.drain(..));
    }
}
