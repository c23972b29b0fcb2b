//! tokio's multi-thread runtime as weir's executor: `threads` workers sharing tokio's
//! work-stealing queues, the calling thread polling only the main future.
//!
//! Why multi-thread and not a current-thread runtime per worker: it is the runtime most
//! tokio programs run, so it is the fair comparison. It cannot place a task on one of
//! its workers (tokio has no such spawn: `spawn_local` needs a `LocalSet` on a
//! current-thread runtime), so it leaves the contract's `PLACES_TASKS` false and weir
//! keeps one listening socket per address, shared by the workers, on this backend (the
//! default backend has one per thread: `listeners.rs`). A current-thread runtime per
//! worker, each with its own `SO_REUSEPORT` socket, would place tasks and is not
//! measured: `bench/profiling.md`, "Runtimes compared", says what it would touch. There,
//! at 2 threads, this runtime costs 0.03 futex calls and 0.21 context switches per
//! request.

use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use super::super::contract::Executor;

/// tokio's executor; it is built by [`Executor::run`], and tasks spawned meanwhile go
/// to the runtime of the calling thread (or the fallback one off a runtime thread).
#[derive(Clone, Default)]
pub struct Tokio;

/// A tokio task that, unlike a `JoinHandle`, is cancelled when dropped (the contract's
/// rule; tokio's handle detaches on drop).
pub struct TokioTask<T>(Option<JoinHandle<T>>);

impl<T> Future for TokioTask<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let handle = self.0.as_mut().expect("a task polled after it finished");
        match Pin::new(handle).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(out)) => {
                self.0 = None;
                Poll::Ready(out)
            }
            Poll::Ready(Err(e)) if e.is_panic() => panic::resume_unwind(e.into_panic()),
            Poll::Ready(Err(e)) => panic!("a task was cancelled behind its handle: {e}"),
        }
    }
}

impl<T> Drop for TokioTask<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

impl Executor for Tokio {
    type Task<T: Send + 'static> = TokioTask<T>;

    fn new() -> Self {
        Tokio
    }

    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> TokioTask<T> {
        let _runtime = super::enter();
        TokioTask(Some(tokio::spawn(fut)))
    }

    fn detach<T: Send + 'static>(mut task: TokioTask<T>) {
        task.0 = None; // a dropped JoinHandle lets its task run on
    }

    fn cancel<T: Send + 'static>(mut task: TokioTask<T>) -> impl Future<Output = Option<T>> + Send {
        let handle = task.0.take();
        async move {
            let handle = handle?;
            handle.abort();
            handle.await.ok()
        }
    }

    fn run<T>(&self, threads: usize, fut: impl Future<Output = T>) -> T {
        let threads = crate::rt::worker_threads(threads);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("weir-worker")
            .enable_all()
            .build()
            .expect("build the tokio runtime");
        runtime.block_on(fut)
    }
}
