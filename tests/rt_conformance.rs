//! The runtime contract (`weir::rt::contract`), checked against the backend this build
//! runs on: CI runs this file under each runtime feature. Real loopback sockets only.
//!
//! Where a rule says something must *not* happen (a dropped timer never wakes, a dropped
//! task never finishes), the test waits for a later timer to fire instead of sleeping: a
//! backend fires timers in deadline order, so by then the earlier one had its chance.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weir::rt::{self, Batch, Runtime, TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(10);

/// Runs `fut` on a fresh runtime with `threads` threads, failing after [`LIMIT`].
fn run<T>(threads: usize, fut: impl Future<Output = T>) -> T {
    let runtime = Runtime::new();
    let out = runtime.block_on(threads, rt::timeout(LIMIT, fut));
    out.expect("the test did not finish within its limit: a lost wake-up?")
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = rt::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = rt::local_addr(&listener).unwrap();
    (listener, addr)
}

/// A connected pair: (client, server side).
async fn pair() -> (TcpStream, TcpStream) {
    let (listener, addr) = listener();
    let (client, accepted) =
        futures_lite::future::zip(rt::connect(addr), rt::accept(&listener)).await;
    (client.unwrap(), accepted.unwrap().0)
}

/// The accepted `server` is `client`'s other end: a byte crosses.
async fn assert_same_connection(client: &TcpStream, server: &TcpStream) {
    let mut byte = [0u8; 1];
    (&*client).write_all(b"!").await.unwrap();
    (&*server).read_exact(&mut byte).await.unwrap();
    assert_eq!(&byte, b"!");
}

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Owned streams are used by value (weir's `Stream`, rustls): the contract's bounds.
fn assert_owned_io<S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static>(_: &S) {}

#[test]
fn accept_and_connect_carry_bytes_both_ways_by_value_and_by_reference() {
    run(1, async {
        let (listener, addr) = listener();
        let (client, accepted) =
            futures_lite::future::zip(rt::connect(addr), rt::accept(&listener)).await;
        let (mut client, (mut server, peer)) = (client.unwrap(), accepted.unwrap());
        assert!(
            peer.ip().is_loopback() && peer.port() != 0,
            "accept's peer: {peer}"
        );
        assert_owned_io(&client);
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        (&server).write_all(b"pong").await.unwrap();
        (&client).read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // poll_close half-closes: the peer reads EOF, and can still answer.
        client.close().await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        server.write_all(b"late").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"late");
    });
}

#[test]
fn readable_waits_for_data_and_resolves_after_data_and_after_eof() {
    run(1, async {
        let (client, server) = pair().await;
        // The contract allows a spurious resolve (the epoll backend answers a just
        // accepted socket's first ask at once, to try the read): the next must wait.
        let _ = rt::timeout(Duration::from_millis(50), rt::readable(&server)).await;
        assert!(
            rt::timeout(Duration::from_millis(50), rt::readable(&server))
                .await
                .is_none(),
            "readable with nothing sent"
        );
        (&client).write_all(b"x").await.unwrap();
        rt::readable(&server).await;
        let mut buf = [0u8; 8];
        assert_eq!((&server).read(&mut buf).await.unwrap(), 1);
        rt::shutdown_write(&client);
        rt::readable(&server).await;
        assert_eq!((&server).read(&mut buf).await.unwrap(), 0, "EOF");
        // EOF stays readable.
        rt::readable(&server).await;
    });
}

#[test]
fn a_timer_fires_after_its_duration() {
    run(1, async {
        let start = Instant::now();
        rt::sleep(Duration::from_millis(30)).await;
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(
            rt::timeout(Duration::from_millis(10), std::future::pending::<()>()).await,
            None
        );
        assert_eq!(
            rt::timeout(Duration::from_secs(5), async { 7 }).await,
            Some(7)
        );
    });
}

#[test]
fn a_dropped_timer_never_wakes() {
    run(1, async {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        {
            let mut early = pin!(rt::sleep(Duration::from_millis(10)));
            let polled = early.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(polled.is_pending());
        }
        rt::sleep(Duration::from_millis(60)).await;
        assert_eq!(count.0.load(SeqCst), 0, "a dropped timer woke its task");
    });
}

#[test]
fn a_dropped_accept_leaves_the_listener_usable_and_the_connection_queued() {
    run(1, async {
        let (listener, addr) = listener();
        assert!(poll_once(rt::accept(&listener)).await.is_none());
        let client = rt::connect(addr).await.unwrap();
        assert_same_connection(&client, &rt::accept(&listener).await.unwrap().0).await;
    });
}

#[test]
fn a_dropped_read_loses_no_bytes() {
    run(1, async {
        let (client, server) = pair().await;
        let mut buf = [0u8; 16];
        let cut = rt::timeout(Duration::from_millis(20), (&server).read(&mut buf)).await;
        assert!(cut.is_none(), "a read returned with nothing sent");
        (&client).write_all(b"hello").await.unwrap();
        let n = (&server).read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
    });
}

/// A read shorter than its buffer may count as draining the socket (the epoll and tokio
/// backends then wait for the next edge instead of reading again for EAGAIN): bytes sent
/// after it still wake the reader, and a FIN that came with the last bytes is still read
/// as EOF, not waited for.
#[test]
fn after_a_short_read_later_bytes_and_a_fin_that_came_with_the_data_still_arrive() {
    run(1, async {
        let (client, server) = pair().await;
        let mut buf = [0u8; 64];
        (&client).write_all(b"hello").await.unwrap();
        let n = (&server).read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        (&client).write_all(b"again").await.unwrap();
        let n = (&server).read(&mut buf).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"again",
            "bytes after a short read were not seen"
        );
        (&client).write_all(b"last").await.unwrap();
        (&client).close().await.unwrap();
        // On loopback the FIN is queued by the time `close` returns: one edge for both.
        let mut got = Vec::new();
        loop {
            let n = (&server).read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"last");
    });
}

#[test]
fn pending_resolves_while_a_connection_waits_and_leaves_it_queued() {
    run(1, async {
        let (listener, addr) = listener();
        assert!(
            poll_once(rt::pending(&listener)).await.is_none(),
            "nothing queued yet"
        );
        let client = rt::connect(addr).await.unwrap();
        rt::pending(&listener).await.unwrap();
        rt::pending(&listener).await.unwrap();
        assert_same_connection(&client, &rt::accept(&listener).await.unwrap().0).await;
    });
}

#[test]
fn end_of_batch_completes_on_and_off_a_runtime_thread() {
    run(2, async {
        rt::end_of_batch(Batch::server(0)).await;
        rt::end_of_batch(Batch::clients()).await;
    });
    futures_lite::future::block_on(rt::end_of_batch(Batch::clients()));
}

#[test]
fn a_detached_task_runs_to_its_end() {
    let runtime = Runtime::new();
    let spawner = runtime.clone();
    let done = Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    let finished = runtime.block_on(2, async move {
        let (tx, rx) = async_channel::bounded::<()>(1);
        spawner
            .spawn(async move {
                rt::sleep(Duration::from_millis(20)).await;
                seen.store(true, SeqCst);
                drop(tx);
            })
            .detach();
        rt::timeout(LIMIT, rx.recv()).await
    });
    assert!(finished.is_some(), "the detached task never ended");
    assert!(done.load(SeqCst));
}

#[test]
fn a_dropped_task_is_cancelled_and_cancel_reports_it() {
    let runtime = Runtime::new();
    let spawner = runtime.clone();
    let ran = Arc::new(AtomicBool::new(false));
    let ran_in = ran.clone();
    runtime.block_on(1, async move {
        let late = |flag: Arc<AtomicBool>| async move {
            rt::sleep(Duration::from_millis(20)).await;
            flag.store(true, SeqCst);
        };
        drop(spawner.spawn(late(ran_in.clone())));
        let cancelled = spawner.spawn(late(ran_in.clone())).cancel().await;
        assert!(
            cancelled.is_none(),
            "cancel gave an output the task never made"
        );
        assert_eq!(spawner.spawn(async { 5 }).await, 5);
        rt::sleep(Duration::from_millis(60)).await;
    });
    assert!(!ran.load(SeqCst), "a dropped or cancelled task ran on");
}

#[test]
fn a_caught_signal_is_delivered_instead_of_its_default_action() {
    run(1, async {
        let mut hangups = rt::Caught::hangups().unwrap();
        let pid = std::process::id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        hangups.next().await;
    });
}

#[test]
fn sockets_and_timers_work_off_a_runtime_thread() {
    futures_lite::future::block_on(async {
        let (client, server) = pair().await;
        (&client).write_all(b"x").await.unwrap();
        rt::readable(&server).await;
        rt::sleep(Duration::from_millis(5)).await;
    });
}
