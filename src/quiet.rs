//! The quiet-time trim: once a thread has started no request for [`QUIET`], it gives
//! back what only a burst needed.
//!
//! A thread keeps blocks for reuse so that a request allocates nothing: read buffers
//! (`http::spare`, up to 32), request scratches (`exchange::kept`, up to 256), and the
//! pool's idle upstream connections keep their read buffers (`upstream::pool`). After a
//! burst those lists are full, and each kept block pins the allocator page it sits in,
//! which the burst's other blocks emptied: with 5,000 idle keep-alive clients held after
//! a ramp, about 100 bytes a connection (bench/profiling.md, "Idle connections, round
//! nine"). Cutting them on every give-back instead cost 6% more instructions a request
//! at 50 connections ("round eight": a deep idle list then gives and takes a buffer on
//! each request), so the cut waits for the traffic to stop, and a request's way gains
//! one counter bump ([`started`]).
//!
//! How it is triggered, on every runtime through the `rt` API alone: one task per
//! worker thread ([`trim_when_quiet`], spawned on thread `k` where the runtime places
//! tasks) sleeps on a timer only while the thread is *armed*: a list ran dry and a block
//! was made afresh ([`grew`], a cold path: a fresh zeroed 4 KiB costs 4,100
//! instructions anyway). Armed, it looks at the thread's request counter twice a
//! [`QUIET`]; once it has not moved for a whole `QUIET`, the task trims the thread's
//! lists to a few and disarms, so an idle process is not woken again until traffic
//! grows a list. The same trim runs what [`also_trim`] registered: each engine's pools
//! free the buffers of the idle connections below their newest few that have idled
//! half a `QUIET` (a pool is shared by the threads, so a connection's own idle time
//! says it is out of use: `Pool::free_idle_buffers`); the pool's reaper, which runs
//! every second anyway, does the same for a pool a busy thread still uses. Where a
//! runtime cannot place tasks (the portable and tokio ones move them between threads),
//! a trim task trims the lists of whichever thread polls it: the lists are per thread,
//! the tasks are not, so a thread may keep its lists until a task runs there; the
//! default runtime places one on each.
//!
//! HAProxy likewise frees its pools' cached objects off the request path (`pool_gc`,
//! when an allocation fails) and closes surplus idle server connections a part at a
//! time every `pool-purge-delay`; nginx has nothing to trim: a request's buffers live
//! in its request pool, freed at its end, so idle connections, client or upstream, hold
//! none.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long a thread starts no request before its lists are trimmed: longer than the
/// gaps inside a load (a keep-alive client's think time, a balancer's swing), short
/// enough that an idle process gives a burst's memory back within two seconds.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

/// How many looks the trim task takes over [`QUIET`]: it trims once that many in a row
/// found no request started, so within half a `QUIET` past it (the idle benchmark
/// measures two seconds after its last request). Each look is a timer's wake-up while
/// the thread is busy: four cost 40 instructions a request in the sequential
/// benchmark (callgrind), where one more request is served in the same time.
const LOOKS: u32 = 2;

/// The trims [`also_trim`] registered.
type Also = Vec<Box<dyn Fn() -> bool + Send>>;
static ALSO: Mutex<Also> = Mutex::new(Vec::new());

thread_local! {
    /// Requests started on this thread: the trim's test of quiet.
    static STARTED: Cell<u64> = const { Cell::new(0) };
    /// Whether a list ran dry since the last trim.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// The trim task parked while the thread is not armed.
    static PARKED: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// A request starts on this thread (one increment: the only cost on a request's way).
#[inline]
pub(crate) fn started() {
    let _ = STARTED.try_with(|n| n.set(n.get().wrapping_add(1)));
}

/// A list of this thread ran dry and a block was made afresh: it may end up kept, so
/// the trim task looks again once the thread is quiet.
#[cold]
pub(crate) fn grew() {
    if ARMED.try_with(|a| a.replace(true)).unwrap_or(true) {
        return;
    }
    let parked = PARKED.try_with(|p| p.borrow_mut().take()).ok().flatten();
    if let Some(w) = parked {
        w.wake();
    }
}

/// Starts one trim task per worker thread (`threads` as configured), for the life of
/// the server. Out of line: inlined, it tipped the executor's loop, which is generic
/// over the server's future, out of its caller, 30 instructions a request more
/// (callgrind, bench/instructions.sh).
#[inline(never)]
pub(crate) fn start(runtime: &crate::rt::Runtime, threads: usize) {
    for k in 0..crate::rt::worker_threads(threads) {
        runtime.spawn_on(k, trim_when_quiet()).detach();
    }
}

/// Runs for the life of the server on one worker thread: trims the thread's lists
/// each time it goes quiet after a list grew (module docs).
pub(crate) async fn trim_when_quiet() {
    loop {
        Armed.await;
        let mut seen = requests_started();
        let mut still = 0;
        while still < LOOKS {
            crate::rt::sleep(QUIET / LOOKS).await;
            let now = requests_started();
            still = if now == seen { still + 1 } else { 0 };
            seen = now;
        }
        let _ = ARMED.try_with(|a| a.set(false));
        trim();
    }
}

/// Cuts this thread's kept lists to a few each, and runs the trims registered with
/// [`also_trim`].
pub(crate) fn trim() {
    crate::http::spare::trim();
    crate::exchange::kept::trim();
    let mut also = ALSO.lock().unwrap_or_else(|p| p.into_inner());
    also.retain(|trim| trim());
}

/// Registers a trim of something shared by the threads (an engine's upstream pools),
/// run whenever a thread goes quiet, until it returns false (its engine is gone).
pub(crate) fn also_trim(trim: impl Fn() -> bool + Send + 'static) {
    let mut also = ALSO.lock().unwrap_or_else(|p| p.into_inner());
    also.push(Box::new(trim));
}

fn requests_started() -> u64 {
    STARTED.try_with(Cell::get).unwrap_or(0)
}

/// Resolves once this thread is armed, parking its waker until then.
struct Armed;

impl Future for Armed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if ARMED.try_with(Cell::get).unwrap_or(true) {
            return Poll::Ready(());
        }
        let _ = PARKED.try_with(|p| *p.borrow_mut() = Some(cx.waker().clone()));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::kept;
    use crate::http::{conn::Conn, spare};
    use crate::rt::{self, Runtime};
    use futures_lite::AsyncWriteExt;

    /// A burst of 40 connections, each reading a request into a fresh buffer with a
    /// fresh scratch, then going idle (giving both back): the thread's lists fill, and
    /// once no request has started for [`QUIET`] the trim task cuts them to a few. The
    /// burst runs as a task, on the one worker thread the trim task runs on too (the
    /// tokio backend runs `block_on`'s own future on the calling thread, apart).
    #[test]
    fn a_burst_s_kept_blocks_are_trimmed_once_the_thread_is_quiet() {
        let runtime = Runtime::new();
        let spawner = runtime.clone();
        runtime.block_on(
            1,
            spawner.clone().spawn(async move {
                spawner.spawn(trim_when_quiet()).detach();
                while spare::kept() > 0 {
                    spare::drop_one();
                }
                let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 64).unwrap();
                let addr = rt::local_addr(&listener).unwrap();
                let mut held = Vec::new();
                for _ in 0..40 {
                    let mut client = rt::connect(addr).await.unwrap();
                    let (server, _) = rt::accept(&listener).await.unwrap();
                    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
                    let mut conn = Conn::new(server, spare::SIZE, spare::SIZE);
                    assert!(conn.fill().await.unwrap() > 0);
                    held.push((conn, client, kept::take()));
                }
                for (conn, _, scratch) in &mut held {
                    let n = conn.buffered().len();
                    conn.consume(n);
                    conn.release();
                    kept::give(std::mem::take(scratch));
                }
                assert!(spare::kept() > 8 && kept::kept() > 8);
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while spare::kept() > 4 || kept::kept() > 4 {
                    let left = (spare::kept(), kept::kept());
                    assert!(std::time::Instant::now() < deadline, "still kept: {left:?}");
                    rt::sleep(Duration::from_millis(20)).await;
                }
            }),
        );
    }

    #[test]
    fn a_list_that_grew_wakes_the_parked_trim_task_once() {
        let woken = std::sync::Arc::new(Count::default());
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        ARMED.set(false);
        assert!(Pin::new(&mut Armed).poll(&mut cx).is_pending());
        grew();
        grew();
        assert_eq!(woken.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(Pin::new(&mut Armed).poll(&mut cx).is_ready());
    }

    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
