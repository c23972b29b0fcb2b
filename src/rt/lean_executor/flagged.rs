//! A run queue with a "not empty" flag beside its lock, for the queues a worker looks at
//! on every pass of its loop and that are nearly always empty (its placed tasks, the
//! shared queue): the look is one atomic load instead of a lock and an unlock
//! (+398 instructions per keep-alive request with the locks, `bench/profiling.md`,
//! "Small keep-alive requests, round five").

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use async_task::Runnable;

use super::lock;

/// Runnable tasks behind a lock, with `queued` kept equal to `!queue.is_empty()`.
#[derive(Default)]
pub(super) struct Flagged {
    queue: Mutex<VecDeque<Runnable>>,
    /// Stored under the lock after every change (by [`Locked`]'s drop), so it is exact
    /// whenever the lock is free; read without the lock by [`Flagged::pop`].
    queued: AtomicBool,
}

/// The locked queue; unlocking it stores the flag first.
pub(super) struct Locked<'a> {
    guard: MutexGuard<'a, VecDeque<Runnable>>,
    queued: &'a AtomicBool,
}

impl Flagged {
    pub(super) fn lock(&self) -> Locked<'_> {
        Locked {
            guard: lock(&self.queue),
            queued: &self.queued,
        }
    }

    /// The first task, without taking the lock when the flag says there is none.
    ///
    /// No task is left unrun by the unlocked look: whoever queues a task stores the
    /// flag (SeqCst, as it unlocks) before it wakes a worker, and every queue's wake
    /// rule holds with the flag as it did with the lock:
    /// - a placed task wakes its thread's `block_on` after the store, and the poll that
    ///   wake brings comes here after it (the waker's own synchronisation orders the
    ///   store before this load); if there was no waker to wake yet, the loop stores
    ///   it under `Slot::thread`'s lock, which the queuer took after the store, and
    ///   looks here only after that (`work`);
    /// - a task queued on the shared queue is followed by `wake_one`, which loads
    ///   `sleeping` after the store, while a worker falling asleep counts itself in
    ///   `sleeping` before its last look here (`Sleeper::fall_asleep`, then one more
    ///   `next`): with all four SeqCst one of the two sees the other (the worker looks
    ///   again, or is woken);
    /// - a worker sees its own stores.
    ///
    /// A stale `true` only costs the lock.
    pub(super) fn pop(&self) -> Option<Runnable> {
        if !self.queued.load(SeqCst) {
            return None;
        }
        self.lock().pop_front()
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Before the guard (a field) unlocks: exact for the next holder of the lock.
        self.queued.store(!self.guard.is_empty(), SeqCst);
    }
}

impl Deref for Locked<'_> {
    type Target = VecDeque<Runnable>;

    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}
