//! The worker threads of an executor's `run`, shared by weir's executor
//! (`lean_executor.rs`) and smol's (`smol_executor.rs`): both run the main future on
//! the calling thread and a worker loop on each of the others, and stop and join those
//! once the main future is done. The loops differ; starting and stopping them does not.

use std::thread;

/// Closed when `run`'s main future is done: a worker loop runs until its `recv()`
/// fails.
pub(super) type Stopped = async_channel::Receiver<()>;

/// Runs `main` on this thread and a loop made by `worker` on each of `threads - 1`
/// threads named `weir-worker-N` (`threads` 0: one thread per core); once `main`
/// returns, closes their [`Stopped`] channel and joins them, then gives `main`'s output.
/// `worker` is called on this thread with the worker's index (1 up; `main`'s thread is
/// 0), so it can clone what its loop shares.
pub(super) fn run_with_workers<T, W>(
    threads: usize,
    worker: impl Fn(usize) -> W,
    main: impl FnOnce() -> T,
) -> T
where
    W: FnOnce(Stopped) + Send + 'static,
{
    let threads = super::worker_threads(threads);
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let workers: Vec<_> = (1..threads)
        .map(|i| {
            let work = worker(i);
            let stopped = stopped.clone();
            thread::Builder::new()
                .name(format!("weir-worker-{i}"))
                .spawn(move || work(stopped))
                .expect("spawn worker thread")
        })
        .collect();
    let out = main();
    stop.close();
    for w in workers {
        let _ = w.join();
    }
    out
}
