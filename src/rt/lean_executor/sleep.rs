//! Which workers sleep (ran out of tasks and returned to their reactor), so that a task
//! queued where a sleeping worker would take it wakes one.
//!
//! A worker falls asleep and wakes up about twice per proxied request (once waiting for
//! the client, once for the origin), so both are an atomic store and a counter step on
//! the worker's own [`Sleeper`], without a lock or a waker clone: the list of sleepers
//! under a mutex, a waker cloned in and dropped out each time, cost ~760 instructions
//! a keep-alive request (`bench/profiling.md`, "Small keep-alive requests, round
//! five"). Only [`Sleepers::wake_one`], when some worker sleeps, takes a lock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use super::lock;

/// Every running worker's [`Sleeper`], and how many of them sleep.
#[derive(Default)]
pub(super) struct Sleepers {
    all: Mutex<Vec<Arc<Sleeper>>>,
    /// How many have `asleep` set: `wake_one` returns at once when none.
    sleeping: AtomicUsize,
}

/// One worker's sleep state, shared with the threads that may wake it.
pub(super) struct Sleeper {
    /// Set by the worker when it runs out of tasks; cleared by whoever takes it off
    /// (the worker itself or a `wake_one`), exactly once per sleep.
    asleep: AtomicBool,
    /// Its `block_on`'s waker, set before it first sleeps (one per `block_on`).
    waker: Mutex<Option<Waker>>,
}

impl Sleepers {
    /// A new worker's sleeper, awake.
    pub(super) fn join(&self) -> Arc<Sleeper> {
        let sleeper = Arc::new(Sleeper {
            asleep: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        lock(&self.all).push(sleeper.clone());
        sleeper
    }

    /// A stopping worker's sleeper off the list (awake: see `Worker::leave`).
    pub(super) fn part(&self, sleeper: &Arc<Sleeper>) {
        lock(&self.all).retain(|s| !Arc::ptr_eq(s, sleeper));
    }

    /// Wakes one sleeping worker, if any sleeps.
    ///
    /// Called after a task was queued (its queue's flag or lock first, SeqCst), it
    /// loads `sleeping`; a worker falling asleep counts itself in `sleeping` before its
    /// last look at the queues. So either this sees the count and wakes a sleeper, or
    /// the worker's look sees the task. A sleeper that woke itself meanwhile is not
    /// found here, and needs no wake: it looks at the queues after waking.
    pub(super) fn wake_one(&self) {
        if self.sleeping.load(SeqCst) == 0 {
            return;
        }
        let all = lock(&self.all);
        let Some(woken) = all.iter().find(|s| s.take_off(self)).cloned() else {
            return;
        };
        drop(all);
        let waker = lock(&woken.waker).clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Sleeper {
    /// Records its thread's waker, for `wake_one`: before the worker first sleeps.
    pub(super) fn set_waker(&self, waker: &Waker) {
        *lock(&self.waker) = Some(waker.clone());
    }

    pub(super) fn is_asleep(&self) -> bool {
        self.asleep.load(SeqCst)
    }

    /// Marks the worker asleep; the caller looks at the queues once more after this.
    pub(super) fn fall_asleep(&self, sleepers: &Sleepers) {
        self.asleep.store(true, SeqCst);
        sleepers.sleeping.fetch_add(1, SeqCst);
    }

    /// Marks the worker awake, if it is asleep.
    pub(super) fn wake_up(&self, sleepers: &Sleepers) {
        if self.asleep.load(SeqCst) {
            self.take_off(sleepers);
        }
    }

    /// Clears `asleep` and uncounts it, if it was set: true for the one caller that did.
    fn take_off(&self, sleepers: &Sleepers) -> bool {
        let was = self.asleep.swap(false, SeqCst);
        if was {
            sleepers.sleeping.fetch_sub(1, SeqCst);
        }
        was
    }
}
