//! weir's own executor for the default backend: async-task's tasks in a run queue per
//! worker thread, a shared queue for tasks spawned or woken off the workers, and
//! stealing, each worker blocking in its backend's `block_on` (on epoll, each drives its
//! own reactor).
//!
//! Why not smol's executor, which this replaced: per small keep-alive request it ran
//! about 1,200 instructions for each of the ~4 task runs (a search of the runner's
//! local queue, then the global one, then a steal, then its sleepers list under a mutex
//! each time the queue ran dry; `bench/profiling.md`, "A leaner executor"). Here a task
//! woken on a worker (by that worker's reactor, or by a task it runs) goes to that
//! worker's own queue, and running it is a pop from an uncontended lock.
//!
//! A task runs on whichever worker is free, as with one shared queue: a worker with
//! nothing of its own takes from the shared queue, then from the other workers' queues;
//! and a worker that queues a task while running another one, or that leaves tasks
//! queued behind the one it is about to run, wakes a sleeping worker to take them. So
//! one busy connection cannot starve the others queued behind it on its thread
//! (`tests/runtime.rs`, `a_busy_task_does_not_starve_a_task_queued_on_its_thread`).
//!
//! Placement (the contract's rule): `spawn_on(i, ..)` puts a task in worker `i`'s
//! [`Slot`], a queue no other worker takes from, and its wakes from any thread go back
//! there. weir runs each thread's accept loop so: the listener registers with that
//! thread's reactor, and the connections it accepts are queued on that thread (another
//! may still steal them when it runs dry, as any task).
//!
//! No LIFO slot (tokio's): it pays where tasks hand messages to each other, and weir
//! runs a connection's request in one task. Queues are FIFO: a task that yields goes
//! behind the others.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{self, Future};
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use async_task::{Builder, Runnable, Task};
use futures_lite::{AsyncRead, AsyncWrite};
use pin_project_lite::pin_project;
use slab::Slab;

use super::contract::{Backend, Executor};
use super::gate;
use super::workers::{run_with_workers, Stopped};

mod flagged;
mod sleep;
mod slot;
use flagged::Flagged;
use sleep::{Sleeper, Sleepers};
use slot::Slot;

/// Tasks a worker runs before it lets its reactor take events and timers again.
const BUDGET: usize = 64;

/// weir's executor, its threads blocking in backend `B`'s loop.
pub struct Lean<B> {
    handle: Arc<Handle>,
    backend: PhantomData<fn() -> B>,
}

impl<B> Clone for Lean<B> {
    fn clone(&self) -> Self {
        Lean {
            handle: self.handle.clone(),
            backend: PhantomData,
        }
    }
}

/// What the runtime's handles share. When the last is dropped, the tasks still alive are
/// cancelled (their futures dropped), as dropping smol's executor does: each task holds
/// the [`State`] through its scheduler, so only the handles can tell when nobody can run
/// them any more.
struct Handle(Arc<State>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.cancel_all();
    }
}

type Queue = Mutex<VecDeque<Runnable>>;

/// The executor's state, shared by its handles, its workers and its tasks' schedulers.
#[derive(Default)]
struct State {
    /// Tasks spawned or woken off the workers, and those a stopping worker left.
    /// Looked at on every pass of every worker's loop, nearly always empty: flagged.
    shared: Flagged,
    /// The running workers' own queues, for stealing.
    queues: Mutex<Vec<Arc<Queue>>>,
    /// `queues.len()`, read without the lock: a lone worker has nobody to steal from.
    workers: AtomicUsize,
    /// Which workers have nothing to run.
    sleepers: Sleepers,
    /// A waker of every live task, so that the last handle's drop can cancel them.
    active: Mutex<Slab<Waker>>,
    /// The placed tasks' queues of the running `run`, one per thread (empty when none
    /// runs).
    slots: Mutex<Vec<Arc<Slot>>>,
}

thread_local! {
    /// The worker this thread is, while it runs one.
    static WORKER: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
}

/// One worker thread of an executor.
struct Worker {
    state: Arc<State>,
    queue: Arc<Queue>,
    /// Its placed tasks.
    slot: Arc<Slot>,
    /// Inside a task's poll: what it queues may wait behind it, so a sleeper is woken.
    running: Cell<bool>,
    /// Whether it sleeps, shared with those that wake it.
    sleeper: Arc<Sleeper>,
    /// Its `block_on`'s waker, once known: a task queued here while it sleeps (in a
    /// reactor turn, between polls of its loop) wakes it through this.
    own: RefCell<Option<Waker>>,
}

/// Whether another worker of the calling thread's executor has tasks queued that this
/// one could take. For a worker about to sleep (the epoll backend's `spin`): a worker
/// that queued tasks and then lost its CPU to another process wakes nobody to take
/// them, since it wakes a sleeper only as it queues or pops.
pub(crate) fn others_have_tasks() -> bool {
    WORKER.with(|w| {
        let Some(me) = w.borrow().clone() else {
            return false;
        };
        if me.state.workers.load(SeqCst) < 2 {
            return false;
        }
        let queues = lock(&me.state.queues);
        let queued = queues
            .iter()
            .filter(|q| !Arc::ptr_eq(q, &me.queue))
            .any(|q| q.try_lock().is_ok_and(|q| !q.is_empty()));
        queued
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B> Executor for Lean<B>
where
    B: Backend,
    for<'a> &'a B::TcpStream: AsyncRead + AsyncWrite,
{
    type Task<T: Send + 'static> = Task<T>;

    fn new() -> Self {
        Lean {
            handle: Arc::new(Handle(Arc::new(State::default()))),
            backend: PhantomData,
        }
    }

    fn spawn<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Task<T> {
        let state = self.handle.0.clone();
        self.handle.0.spawn(fut, move |r| state.schedule(r))
    }

    const PLACES_TASKS: bool = true;

    fn spawn_on<T: Send + 'static>(
        &self,
        worker: usize,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        let slots = lock(&self.handle.0.slots);
        let Some(slot) = slots.get(worker % slots.len().max(1)).cloned() else {
            drop(slots);
            return self.spawn(fut);
        };
        drop(slots);
        let state = self.handle.0.clone();
        self.handle.0.spawn(fut, move |r| slot.schedule(r, &state))
    }

    fn detach<T: Send + 'static>(task: Task<T>) {
        task.detach();
    }

    fn cancel<T: Send + 'static>(task: Task<T>) -> impl Future<Output = Option<T>> + Send {
        task.cancel()
    }

    fn run<T>(&self, threads: usize, fut: impl Future<Output = T>) -> T {
        let state = &self.handle.0;
        let slots: Vec<Arc<Slot>> = (0..super::worker_threads(threads))
            .map(|_| Arc::default())
            .collect();
        *lock(&state.slots) = slots.clone();
        let worker = |i: usize| {
            let state = state.clone();
            let slot = slots[i].clone();
            move |stopped: Stopped| {
                let _ = work::<B, _>(state, slot, stopped.recv());
            }
        };
        // Gated: the loop would poll `fut` after every reactor turn, woken or not.
        let main = || work::<B, _>(state.clone(), slots[0].clone(), gate::Gated::new(fut));
        let out = run_with_workers(threads, worker, main);
        lock(&state.slots).clear();
        for slot in slots {
            slot.close(state);
        }
        out
    }
}

/// Runs tasks on this thread until `until` is done, in backend `B`'s `block_on`.
fn work<B: Backend, T>(state: Arc<State>, slot: Arc<Slot>, until: impl Future<Output = T>) -> T
where
    for<'a> &'a B::TcpStream: AsyncRead + AsyncWrite,
{
    let worker = Worker::enter(state, slot);
    let mut until = pin!(until);
    let mut known = false;
    let out = B::block_on(future::poll_fn(|cx| {
        if !known {
            // Before the first look at the slot: a task placed after it wakes us.
            *lock(&worker.slot.thread) = Some(cx.waker().clone());
            worker.sleeper.set_waker(cx.waker());
            *worker.own.borrow_mut() = Some(cx.waker().clone());
            known = true;
        }
        worker.wake_up();
        if let Poll::Ready(out) = until.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        for i in 0..BUDGET {
            // The shared queue first once a pass: tasks that keep requeueing themselves
            // on this worker cannot hold off those spawned from elsewhere.
            let (runnable, placed) = match worker.next(i == 0) {
                Some(r) => r,
                None if worker.sleeper.is_asleep() => return Poll::Pending,
                None => {
                    // Counted first, then one more look: a task queued in between wakes
                    // us (`Sleepers::wake_one`).
                    worker.sleeper.fall_asleep(&worker.state.sleepers);
                    continue;
                }
            };
            worker.wake_up();
            // A placed task (an accept loop) queues what it spawns here without waking
            // another worker: the connection runs on the thread that accepted it, once
            // the loop has drained its socket (the contract's "Placement" rule).
            worker.running.set(!placed);
            runnable.run();
            worker.running.set(false);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }));
    worker.leave();
    out
}

impl State {
    /// Spawns `fut` as a task that `schedule` queues each time it is woken.
    fn spawn<T: Send + 'static>(
        self: &Arc<Self>,
        fut: impl Future<Output = T> + Send + 'static,
        schedule: impl Fn(Runnable) + Send + Sync + 'static,
    ) -> Task<T> {
        let mut active = lock(&self.active);
        let len = active.len();
        if len == active.capacity() {
            // Full: grow by a quarter, not by `Vec`'s doubling (`slot_growth`).
            active.reserve_exact(crate::slot_growth::step(len));
        }
        let entry = active.vacant_entry();
        let fut = Tracked {
            fut,
            _finished: Finished(self.clone(), entry.key()),
        };
        let (runnable, task) = Builder::new()
            .propagate_panic(true)
            .spawn(|()| fut, schedule);
        entry.insert(runnable.waker());
        drop(active);
        runnable.schedule();
        task
    }

    /// Queues a woken task: on this thread's own queue if it is one of our workers,
    /// else on the shared one, waking a sleeper to take it.
    fn schedule(self: &Arc<Self>, runnable: Runnable) {
        let worker = WORKER
            .try_with(|w| w.borrow().clone())
            .ok()
            .flatten()
            .filter(|w| Arc::ptr_eq(&w.state, self));
        match worker {
            Some(w) => w.push(runnable),
            None => {
                self.shared.lock().push_back(runnable); // the flag, then `sleeping`
                self.wake_one();
            }
        }
    }

    /// Wakes one sleeping worker, if any sleeps.
    fn wake_one(&self) {
        self.sleepers.wake_one();
    }

    /// Cancels every live task: each is woken, and every queued task dropped, until none
    /// is left (dropping one may wake others).
    fn cancel_all(&self) {
        let wakers: Vec<Waker> = lock(&self.active).drain().collect();
        wakers.into_iter().for_each(Waker::wake);
        loop {
            let queued = std::mem::take(&mut *self.shared.lock());
            if queued.is_empty() {
                break;
            }
            drop(queued);
        }
    }
}

/// Drops a task's entry among the live ones when its future ends or is dropped.
struct Finished(Arc<State>, usize);

pin_project! {
    /// A task's future with its [`Finished`] guard beside it. Written out rather than
    /// as `async move { let _f = finished; fut.await }`: such a block keeps the
    /// captured future and the awaited one in separate fields, so every task (an idle
    /// connection's included) was twice its future's size, 3,109 bytes per idle
    /// connection against 2,034 (`benchlib.py idle`, 5,000 connections).
    struct Tracked<F> {
        #[pin]
        fut: F,
        _finished: Finished,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().fut.poll(cx)
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        lock(&self.0.active).try_remove(self.1);
    }
}

impl Worker {
    /// Makes this thread a worker of `state` until [`Worker::leave`].
    fn enter(state: Arc<State>, slot: Arc<Slot>) -> Rc<Worker> {
        let queue = Arc::new(Queue::default());
        let mut queues = lock(&state.queues);
        queues.push(queue.clone());
        state.workers.store(queues.len(), SeqCst);
        drop(queues);
        let worker = Rc::new(Worker {
            sleeper: state.sleepers.join(),
            state,
            queue,
            slot,
            running: Cell::new(false),
            own: RefCell::new(None),
        });
        WORKER.with(|w| *w.borrow_mut() = Some(worker.clone()));
        worker
    }

    /// Stops being a worker: tasks left in this queue go to the shared one.
    fn leave(&self) {
        WORKER.with(|w| w.borrow_mut().take());
        lock(&self.slot.thread).take(); // its placed tasks wait for `cancel_all`
        self.wake_up();
        self.state.sleepers.part(&self.sleeper);
        let mut queues = lock(&self.state.queues);
        queues.retain(|q| !Arc::ptr_eq(q, &self.queue));
        self.state.workers.store(queues.len(), SeqCst);
        drop(queues);
        let left = std::mem::take(&mut *lock(&self.queue));
        let mut shared = self.state.shared.lock();
        shared.extend(left);
        let queued = !shared.is_empty();
        drop(shared);
        if queued {
            // A wake meant for this worker may have come as it left.
            self.state.wake_one();
        }
    }

    /// Queues a task woken on this thread.
    fn push(&self, runnable: Runnable) {
        lock(&self.queue).push_back(runnable);
        if !self.wake_if_asleep() && self.running.get() {
            self.state.wake_one();
        }
    }

    /// Wakes this worker's own loop if it sleeps: a task queued on its thread outside
    /// a poll of the loop (in a reactor turn, at the end of a batch) must bring the loop
    /// round before the thread sleeps. (Taken off by a `wake_one`, it was woken.)
    fn wake_if_asleep(&self) -> bool {
        if !self.sleeper.is_asleep() {
            return false;
        }
        if let Some(own) = self.own.borrow().as_ref() {
            own.wake_by_ref();
        }
        true
    }

    /// The next task to run: this worker's own, then its placed ones, then the shared
    /// queue's, then one taken from another worker (placed and shared first if
    /// `shared_first`).
    fn next(&self, shared_first: bool) -> Option<(Runnable, bool)> {
        let placed = || self.slot.queue.pop().map(|r| (r, true));
        let shared = || self.state.shared.pop().map(|r| (r, false));
        if shared_first {
            if let Some(next) = placed().or_else(shared) {
                return Some(next);
            }
        }
        let mut own = lock(&self.queue);
        if let Some(r) = own.pop_front() {
            let more = !own.is_empty();
            drop(own);
            if more {
                self.state.wake_one(); // it may take them while we run this one
            }
            return Some((r, false));
        }
        drop(own);
        if let Some(next) = placed().or_else(shared) {
            return Some(next);
        }
        // Alone (it counted itself in `enter`), nobody to steal from. A second worker
        // stores the count before it queues and then loads `sleeping`, and this one
        // counts itself in `sleeping` before its last look (all SeqCst): it sees the
        // count or is woken.
        if self.state.workers.load(SeqCst) < 2 {
            return None;
        }
        lock(&self.state.queues)
            .iter()
            .filter(|q| !Arc::ptr_eq(q, &self.queue))
            .find_map(|q| q.try_lock().ok()?.pop_front())
            .map(|r| (r, false))
    }

    /// Marks this worker awake, if it sleeps.
    fn wake_up(&self) {
        self.sleeper.wake_up(&self.state.sleepers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's future is its own future plus the guard, not two copies of it: every
    /// idle connection is one such task.
    #[test]
    fn tracking_a_task_adds_only_its_guard() {
        let state = Arc::new(State::default());
        let big = [7u8; 1000];
        let fut = async move { big.len() };
        let alone = std::mem::size_of_val(&fut);
        let key = lock(&state.active).insert(futures_lite::future::block_on(async {
            future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
        }));
        let tracked = Tracked {
            fut,
            _finished: Finished(state.clone(), key),
        };
        let padded = alone.next_multiple_of(std::mem::align_of::<Finished>());
        assert!(
            std::mem::size_of_val(&tracked) <= padded + std::mem::size_of::<Finished>(),
            "{} > {alone} + the guard",
            std::mem::size_of_val(&tracked)
        );
        drop(tracked);
        assert!(
            lock(&state.active).is_empty(),
            "the guard removed its entry"
        );
    }
}
