//! The runtime boundary (`weir::rt`) on its own, over real loopback sockets: the cases
//! the proxy tests reach only by chance.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use weir::rt::{self, Runtime};

/// Sends `len` patterned bytes through a socket pair and back, far more than the socket
/// buffers hold, so writes hit EAGAIN and must be woken by the peer draining.
async fn echo_roundtrip(len: usize) {
    let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 128).unwrap();
    let addr = rt::local_addr(&listener).unwrap();
    let (client, (server, _)) = futures_lite::future::zip(rt::connect(addr), async {
        rt::accept(&listener).await.unwrap()
    })
    .await;
    let client = client.unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let echo = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = (&server).read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            (&server).write_all(&buf[..n]).await.unwrap();
        }
        rt::shutdown_write(&server);
    };
    let send = async {
        (&client).write_all(&data).await.unwrap();
        rt::shutdown_write(&client);
    };
    let receive = async {
        let mut back = Vec::new();
        (&client).read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), ((), back)) =
        futures_lite::future::zip(echo, futures_lite::future::zip(send, receive)).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes came back changed");
}

#[test]
fn a_large_transfer_survives_full_socket_buffers_across_two_threads() {
    let runtime = Runtime::new();
    let spawner = runtime.clone();
    runtime.block_on(2, async move {
        // Two tasks at once, so both worker threads (and their reactors) take part.
        let a = spawner.spawn(echo_roundtrip(8 << 20));
        let b = spawner.spawn(echo_roundtrip(8 << 20));
        let both = futures_lite::future::zip(a, b);
        let done = rt::timeout(Duration::from_secs(30), both).await;
        assert!(done.is_some(), "a transfer stalled: a lost wake-up");
    });
}

#[test]
fn sockets_and_timers_work_outside_a_runtime_thread() {
    // No `Runtime` here: everything registers with the fallback reactor, whose thread
    // sleeps in epoll_wait while this one files timers (it must be woken to honour them).
    futures_lite::future::block_on(async {
        echo_roundtrip(1 << 20).await;
        let start = Instant::now();
        rt::sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        let never = futures_lite::future::pending::<()>();
        assert_eq!(rt::timeout(Duration::from_millis(10), never).await, None);
    });
}

type Log = Arc<Mutex<Vec<String>>>;

/// Runs the tasks `start` spawns on a one-thread runtime; returns what they logged.
fn logged_run(start: impl FnOnce(&Runtime, &Log) -> Vec<rt::Task<()>>) -> Vec<String> {
    let runtime = Runtime::new();
    let spawner = runtime.clone();
    runtime.block_on(1, async move {
        let log = Log::default();
        for task in start(&spawner, &log) {
            task.await;
        }
        let logged = log.lock().unwrap().clone();
        logged
    })
}

#[test]
fn end_of_batch_lets_every_ready_task_run_first() {
    let order = logged_run(|spawner, log| {
        ["a", "b"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                spawner.spawn(async move {
                    log.lock().unwrap().push(format!("{name} reads"));
                    rt::end_of_batch(rt::Batch::server(0)).await;
                    log.lock().unwrap().push(format!("{name} writes"));
                })
            })
            .collect()
    });
    assert_eq!(order, ["a reads", "b reads", "a writes", "b writes"]);
}

/// Deferred tasks resume by group, in arrival order within one (the epoll runtime only:
/// the portable and tokio ones keep plain arrival order).
#[cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]
#[test]
fn end_of_batch_resumes_by_group() {
    let order = logged_run(|spawner, log| {
        let (one, two) = (rt::Batch::server(1), rt::Batch::clients());
        [(two, "a"), (one, "b"), (two, "c"), (one, "d")]
            .into_iter()
            .map(|(group, name)| {
                let log = log.clone();
                spawner.spawn(async move {
                    rt::end_of_batch(group).await;
                    log.lock().unwrap().push(name.to_string());
                })
            })
            .collect()
    });
    assert_eq!(order, ["b", "d", "a", "c"]);
}

#[test]
fn a_task_that_keeps_deferring_does_not_starve_sockets_or_timers() {
    let (done, finished) = mpsc::channel();
    // On a thread of its own, so a starved runtime fails the test instead of hanging it.
    thread::spawn(move || {
        let runtime = Runtime::new();
        let spawner = runtime.clone();
        runtime.block_on(1, async move {
            let _spinner = spawner.spawn(async {
                loop {
                    rt::end_of_batch(rt::Batch::server(0)).await;
                }
            });
            echo_roundtrip(1 << 20).await;
            rt::sleep(Duration::from_millis(5)).await;
        });
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(30)).is_ok(),
        "sockets or timers starved behind a task deferring to the end of the batch"
    );
}

/// `pending` is what the accept loop waits on at `max_connections`: it must resolve only
/// while a connection is queued, even just after an accept emptied the queue (where the
/// epoll reactor still holds the listener as readable), and leave it queued.
#[test]
fn pending_resolves_only_while_a_connection_waits_and_leaves_it_queued() {
    let runtime = Runtime::new();
    runtime.block_on(1, async {
        let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 128).unwrap();
        let addr = rt::local_addr(&listener).unwrap();
        let quiet = Duration::from_millis(200);
        let soon = Duration::from_secs(10);
        for round in 0..2 {
            let early = rt::timeout(quiet, rt::pending(&listener)).await;
            assert!(
                early.is_none(),
                "round {round}: resolved with nothing queued"
            );
            let client = std::net::TcpStream::connect(addr).unwrap();
            let queued = rt::timeout(soon, rt::pending(&listener)).await;
            assert!(
                queued.is_some_and(|r| r.is_ok()),
                "round {round}: not woken"
            );
            let again = rt::timeout(soon, rt::pending(&listener)).await;
            assert!(again.is_some(), "round {round}: the connection was taken");
            let accepted = rt::timeout(soon, rt::accept(&listener)).await;
            let (_, peer) = accepted.expect("accepted").unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
        }
    });
}

/// The reason the default backend shares one run queue between its workers: a task that
/// holds its thread (a busy connection: a long parse, a slow plugin) must not starve the
/// tasks queued behind it there. Here a task spawns a second one from its own worker, the
/// way a connection spawns its helpers, and then keeps the thread until the second has
/// done a loopback round trip. An executor with a queue per worker and no stealing would
/// leave the second task queued behind the busy one until the deadline.
#[test]
#[cfg_attr(
    feature = "tokio-runtime",
    ignore = "tokio puts a task spawned on a worker in that worker's LIFO slot, which no \
              other worker steals (tokio-rs/tokio#4941; disable_lifo_slot is unstable)"
)]
fn a_busy_task_does_not_starve_a_task_queued_on_its_thread() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let runtime = Runtime::new();
    let spawner = runtime.clone();
    let helped = runtime.block_on(2, async move {
        let busy = spawner.clone().spawn(async move {
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            spawner
                .spawn(async move {
                    echo_roundtrip(4096).await;
                    flag.store(true, SeqCst);
                })
                .detach();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done.load(SeqCst) && Instant::now() < deadline {
                thread::yield_now(); // holds the worker: no await
            }
            done.load(SeqCst)
        });
        busy.await
    });
    assert!(
        helped,
        "a task queued behind a busy one on its worker did not run within 10 s"
    );
}

/// A worker takes from its own queue first, but not only: a task that keeps yielding
/// (requeued on its worker at every poll) must not hold off one spawned from another
/// thread (queued on the shared queue).
#[test]
fn a_task_that_keeps_yielding_does_not_starve_one_spawned_from_another_thread() {
    let (done, finished) = mpsc::channel();
    // On a thread of its own, so a starved runtime fails the test instead of hanging it.
    thread::spawn(move || {
        let runtime = Runtime::new();
        let spawner = runtime.clone();
        let out = runtime.block_on(1, async move {
            let _spinner = spawner.spawn(async {
                loop {
                    futures_lite::future::yield_now().await;
                }
            });
            let elsewhere = spawner.clone();
            let task = thread::spawn(move || elsewhere.spawn(async { 42 }))
                .join()
                .unwrap();
            task.await
        });
        let _ = done.send(out);
    });
    assert_eq!(
        finished.recv_timeout(Duration::from_secs(30)).ok(),
        Some(42),
        "a task spawned from another thread starved behind one that keeps yielding"
    );
}

/// A task spawned from another thread while the only worker sleeps in its reactor (no
/// socket ready, its one timer 20 s away) runs at once: the spawn wakes the sleeping
/// worker (`Sleepers::wake_one`), as nothing else would before that timer.
#[test]
#[cfg(target_os = "linux")] // thread states from /proc
fn a_task_spawned_from_another_thread_wakes_a_sleeping_worker() {
    let (ran, done) = mpsc::channel();
    let (tid_tx, tid_rx) = mpsc::channel();
    let runtime = Runtime::new();
    let spawner = runtime.clone();
    // The runtime on a thread of its own: if the spawn does not wake it, it sleeps until
    // the timer, past this test's deadline.
    thread::spawn(move || {
        runtime.block_on(1, async move {
            let _ = tid_tx.send(rustix::thread::gettid());
            rt::sleep(Duration::from_secs(20)).await;
        })
    });
    let tid = tid_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    wait_until_blocked(tid);
    spawner
        .spawn(async move {
            let _ = ran.send(42);
        })
        .detach();
    assert_eq!(
        done.recv_timeout(Duration::from_secs(10)).ok(),
        Some(42),
        "a task spawned from another thread did not wake the sleeping worker"
    );
}

/// Polls until thread `tid` of this process is blocked (state `S`: the worker in
/// `epoll_wait` with nothing to run), with a deadline.
#[cfg(target_os = "linux")]
fn wait_until_blocked(tid: rustix::thread::Pid) {
    let path = format!("/proc/self/task/{}/stat", tid.as_raw_nonzero());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(&path).unwrap();
        // After "(comm)": the state letter.
        let state = stat.rsplit(')').next().unwrap().trim_start().chars().next();
        if state == Some('S') {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never blocked: {stat}"
        );
        thread::yield_now();
    }
}
