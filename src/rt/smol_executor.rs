//! smol's executor, the portable backend's: one queue for all the worker threads, each
//! thread blocking in the backend's `block_on`. (The epoll backend runs weir's own,
//! `lean_executor.rs`, which does the same work in fewer instructions.)
//!
//! One shared executor rather than one per thread: a task runs on whichever worker is
//! free, so one busy connection cannot starve the others queued behind it on its thread.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::thread;

use futures_lite::{AsyncRead, AsyncWrite};

use super::contract::{Backend, Executor};
use super::gate;

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
        let threads = match threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let workers: Vec<_> = (1..threads)
            .map(|i| {
                let ex = self.ex.clone();
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("weir-worker-{i}"))
                    .spawn(move || B::block_on(ex.run(stopped.recv())))
                    .expect("spawn worker thread")
            })
            .collect();
        // Gated: `run` would poll `fut` after every reactor turn, woken or not.
        let out = B::block_on(self.ex.run(gate::Gated::new(fut)));
        stop.close();
        for w in workers {
            let _ = w.join();
        }
        out
    }
}
