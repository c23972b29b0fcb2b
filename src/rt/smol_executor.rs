//! smol's executor, the portable backend's: one queue for all the worker threads, each
//! thread blocking in the backend's `block_on`. (The epoll backend runs weir's own,
//! `lean_executor.rs`, which does the same work in fewer instructions.)
//!
//! One shared executor rather than one per thread: a task runs on whichever worker is
//! free, so one busy connection cannot starve the others queued behind it on its thread.
//! smol's executor cannot place a task on one thread, so this backend leaves the
//! contract's `PLACES_TASKS` false: weir keeps one listening socket per address, shared
//! by the threads (the default backend, whose executor places tasks, has one per
//! thread). A `LocalExecutor` per thread would place them, at the price of the stealing
//! this backend keeps.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_lite::{AsyncRead, AsyncWrite};

use super::contract::{Backend, Executor};
use super::gate;
use super::workers::{run_with_workers, Stopped};

/// smol's executor, its threads blocking in backend `B`'s loop.
pub struct Smol<B> {
    ex: Arc<smol::Executor<'static>>,
    backend: PhantomData<fn() -> B>,
}

impl<B> Clone for Smol<B> {
    fn clone(&self) -> Self {
        Smol {
            ex: self.ex.clone(),
            backend: PhantomData,
        }
    }
}

impl<B> Executor for Smol<B>
where
    B: Backend,
    for<'a> &'a B::TcpStream: AsyncRead + AsyncWrite,
{
    type Task<T: Send + 'static> = smol::Task<T>;

    fn new() -> Self {
        Smol {
            ex: Arc::new(smol::Executor::new()),
            backend: PhantomData,
        }
    }

    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> smol::Task<T> {
        self.ex.spawn(fut)
    }

    fn detach<T: Send + 'static>(task: smol::Task<T>) {
        task.detach();
    }

    fn cancel<T: Send + 'static>(task: smol::Task<T>) -> impl Future<Output = Option<T>> + Send {
        task.cancel()
    }

    fn run<T>(&self, threads: usize, fut: impl Future<Output = T>) -> T {
        let worker = |_| {
            let ex = self.ex.clone();
            move |stopped: Stopped| {
                let _ = B::block_on(ex.run(stopped.recv()));
            }
        };
        // Gated: `run` would poll `fut` after every reactor turn, woken or not.
        let main = || B::block_on(self.ex.run(gate::Gated::new(fut)));
        run_with_workers(threads, worker, main)
    }
}
