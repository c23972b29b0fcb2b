//! Heap slots for a future, reused per thread: a boxed future without an allocation
//! per run.
//!
//! A connection's task is as large as its largest await point, and every idle
//! keep-alive connection carries its task; the exchange of one request is most of that
//! (about 4 KiB), so the request loop keeps it off the task, on the heap. `Box::pin`
//! did so with one allocation and one free per request (`tests/alloc_free.rs`). A slot
//! here is a heap block sized for one future type, kept on its thread's [`Pool`] while
//! no run needs it, and refilled in place (`Pin::set`) by the next run: keep-alive
//! traffic reuses the same few blocks, and idle connections hold none.
//!
//! A future type cannot be named (`impl Trait` in a type alias is unstable), so a pool
//! holds its slots as `dyn` [`Slot`]`<A, T>`, by the arguments `A` a run is made from
//! and its output `T`: each slot keeps the constructor that makes its future from
//! them (a zero-sized fn item), so a `'static` future owns its arguments and gives
//! them back in its output. A pool serves one constructor (a slot made by another is
//! not reused: freed, and a new one made).

use std::any::TypeId;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::LocalKey;

/// Slots a thread keeps while no run needs them: at least the runs one thread has at
/// once under load (50 in the bench); each about the size of its future.
const KEEP: usize = 128;

/// A heap slot for futures made from `A` that resolve to `T`.
pub(crate) trait Slot<A, T>: Send {
    /// The type of the constructor that made this slot (see [`run`]).
    fn made_by(&self) -> TypeId;
    /// Puts a new future, made from `args`, in the slot (dropping what it held).
    fn fill(&mut self, args: A);
    /// Polls the future in the slot; `Pending` once it has finished or been emptied.
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<T>;
    /// Drops the future in the slot, keeping its memory.
    fn empty(&mut self);
}

/// The one [`Slot`]: the constructor and the pinned future it made.
struct Made<M, F> {
    make: M,
    fut: Pin<Box<Option<F>>>,
}

impl<A, M, F> Slot<A, F::Output> for Made<M, F>
where
    M: Fn(A) -> F + Send + 'static,
    F: Future + Send,
{
    fn made_by(&self) -> TypeId {
        TypeId::of::<M>()
    }

    fn fill(&mut self, args: A) {
        self.fut.set(Some((self.make)(args)));
    }

    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(fut) = self.fut.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let out = std::task::ready!(fut.poll(cx));
        self.fut.set(None);
        Poll::Ready(out)
    }

    fn empty(&mut self) {
        self.fut.set(None);
    }
}

/// A thread's idle slots for one constructor; declare one per call site with
/// `thread_local!` and pass it to [`run`].
pub(crate) struct Pool<A, T>(RefCell<Vec<Box<dyn Slot<A, T>>>>);

impl<A, T> Pool<A, T> {
    pub const fn new() -> Self {
        Pool(RefCell::new(Vec::new()))
    }
}

/// Runs the future `make(args)` in a slot from `pool`: a kept one when the thread has
/// one, else a new one (which goes to the pool after the run).
pub(crate) fn run<A, M, F>(
    pool: &'static LocalKey<Pool<A, F::Output>>,
    make: M,
    args: A,
) -> InSlot<A, F::Output>
where
    A: 'static,
    M: Fn(A) -> F + Send + 'static,
    F: Future + Send + 'static,
{
    debug_assert_eq!(
        std::mem::size_of::<M>(),
        0,
        "a kept slot keeps its own `make`"
    );
    let kept = pool.try_with(|p| p.0.borrow_mut().pop()).ok().flatten();
    let mut slot = match kept {
        Some(slot) if slot.made_by() == TypeId::of::<M>() => slot,
        _ => Box::new(Made {
            make,
            fut: Box::pin(None),
        }),
    };
    slot.fill(args);
    InSlot {
        slot: Some(slot),
        pool,
    }
}

/// One run in a slot: resolves to the future's output, and gives the slot back to the
/// thread's pool when it ends, however it ends (dropped mid-run, the future is dropped
/// first).
pub(crate) struct InSlot<A: 'static, T: 'static> {
    slot: Option<Box<dyn Slot<A, T>>>,
    pool: &'static LocalKey<Pool<A, T>>,
}

impl<A, T> Future for InSlot<A, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        match &mut this.slot {
            Some(slot) => slot.poll_slot(cx),
            None => Poll::Pending,
        }
    }
}

impl<A, T> Drop for InSlot<A, T> {
    fn drop(&mut self) {
        let Some(mut slot) = self.slot.take() else {
            return;
        };
        slot.empty();
        // While the thread exits the pool may be gone: the slot is just freed.
        let _ = self.pool.try_with(|p| {
            let mut p = p.0.borrow_mut();
            if p.len() < KEEP {
                p.push(slot);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static DOUBLES: Pool<u32, u32> = const { Pool::new() };
    }

    async fn double(n: u32) -> u32 {
        n * 2
    }

    fn kept() -> usize {
        DOUBLES.with(|p| p.0.borrow().len())
    }

    #[test]
    fn a_slot_is_reused_by_the_next_run() {
        let first = futures_lite::future::block_on(run(&DOUBLES, double, 2));
        assert_eq!(first, 4);
        assert_eq!(kept(), 1);
        let again = futures_lite::future::block_on(run(&DOUBLES, double, 5));
        assert_eq!(again, 10);
        assert_eq!(kept(), 1, "the run took the kept slot and gave it back");
    }

    #[test]
    fn a_run_dropped_midway_drops_its_future_and_gives_its_slot_back() {
        let dropped = std::sync::Arc::new(());
        let held = dropped.clone();
        thread_local! {
            static WAITS: Pool<std::sync::Arc<()>, ()> = const { Pool::new() };
        }
        let waits = |a: std::sync::Arc<()>| async move {
            let _a = a;
            std::future::pending::<()>().await
        };
        let mut running = run(&WAITS, waits, held);
        let polled = futures_lite::future::block_on(futures_lite::future::poll_once(&mut running));
        assert!(polled.is_none());
        assert_eq!(std::sync::Arc::strong_count(&dropped), 2);
        drop(running);
        assert_eq!(
            std::sync::Arc::strong_count(&dropped),
            1,
            "the future was dropped"
        );
        assert_eq!(WAITS.with(|p| p.0.borrow().len()), 1);
    }
}
