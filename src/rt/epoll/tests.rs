//! The reactor over real loopback sockets, driven turn by turn from the test thread.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};

use super::clock;
use super::net::{self, readable, TcpStream};
use super::reactor::{self, Reactor, Turn};

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A waker with a bug: it panics.
struct Panics;

impl Wake for Panics {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics (on purpose, in a test)");
    }
}

/// A connected pair: a plain std client and an epoll server side.
fn pair() -> (StdStream, TcpStream) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, TcpStream::from_std(server).unwrap())
}

/// Polls `readable(stream)` once with `waker`: it must be pending (nothing sent yet).
fn wait_readable(stream: &TcpStream, waker: &Waker) {
    let mut fut = pin!(readable(stream));
    let pending = fut
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending();
    assert!(pending, "readable before anything was sent");
}

/// Turns `reactor` until `done`, failing after five seconds.
fn turn_until(reactor: &Reactor, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let never = AtomicBool::new(false);
    let mut turn = Turn::new();
    let tick = Waker::from(Arc::new(Count::default()));
    while !done() {
        assert!(Instant::now() < deadline, "no wake-up within 5 s");
        reactor.set_timer(clock::ticks() + 50_000_000, None, &tick);
        reactor.turn(&never, &mut turn);
    }
}

#[test]
fn a_waiter_displaced_on_a_real_socket_is_woken_and_the_new_one_gets_the_data() {
    let reactor = Arc::new(Reactor::new().unwrap());
    let _current = reactor::enter(reactor.clone());
    let (mut client, server) = pair();
    let (first, second) = (Arc::new(Count::default()), Arc::new(Count::default()));
    wait_readable(&server, &Waker::from(first.clone()));
    wait_readable(&server, &Waker::from(second.clone()));
    assert_eq!(
        first.0.load(SeqCst),
        1,
        "the displaced waiter was never woken"
    );
    client.write_all(b"x").unwrap();
    turn_until(&reactor, || second.0.load(SeqCst) == 1);
}

#[test]
fn a_panicking_waker_does_not_stop_the_reactor_waking_the_others() {
    let reactor = Arc::new(Reactor::new().unwrap());
    let _current = reactor::enter(reactor.clone());
    let (mut bad_client, bad) = pair();
    let (mut good_client, good) = pair();
    let count = Arc::new(Count::default());
    wait_readable(&bad, &Waker::from(Arc::new(Panics)));
    wait_readable(&good, &Waker::from(count.clone()));
    bad_client.write_all(b"x").unwrap();
    good_client.write_all(b"x").unwrap();
    turn_until(&reactor, || count.0.load(SeqCst) == 1);
    // And the reactor goes on serving afterwards.
    let later = Arc::new(Count::default());
    let (mut client, server) = pair();
    wait_readable(&server, &Waker::from(later.clone()));
    client.write_all(b"x").unwrap();
    turn_until(&reactor, || later.0.load(SeqCst) == 1);
}

/// Accepts one connection from `listener`, which must be waiting already.
fn accept_now(listener: &net::TcpListener, cx: &mut Context<'_>) -> TcpStream {
    match pin!(net::accept(listener)).as_mut().poll(cx) {
        std::task::Poll::Ready(Ok((stream, _))) => stream,
        std::task::Poll::Ready(Err(e)) => panic!("accept failed: {e}"),
        std::task::Poll::Pending => panic!("the queued connection was not accepted at once"),
    }
}

fn bound() -> (net::TcpListener, std::net::SocketAddr) {
    let listener = net::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    (listener, addr)
}

/// A client that sends its request right after connecting (the usual case) is
/// accepted, read and answered with no `epoll_ctl`, no reactor turn and no wait: the
/// socket is registered only once a call would block (issue 24, new connections).
#[test]
fn a_connection_whose_request_is_there_is_served_without_registering_it() {
    let reactor = Arc::new(Reactor::new().unwrap());
    let _current = reactor::enter(reactor.clone());
    let (listener, addr) = bound();
    let mut client = StdStream::connect(addr).unwrap();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let waker = Waker::from(Arc::new(Count::default()));
    let mut cx = Context::from_waker(&waker);
    let server = accept_now(&listener, &mut cx);
    let ready = pin!(readable(&server)).as_mut().poll(&mut cx).is_ready();
    assert!(ready, "readable waited for a reactor turn");
    let mut buf = [0u8; 64];
    let read = Pin::new(&mut &server).poll_read(&mut cx, &mut buf);
    assert!(matches!(read, std::task::Poll::Ready(Ok(18))), "{read:?}");
    let wrote = Pin::new(&mut &server).poll_write(&mut cx, b"HTTP/1.1 200 OK\r\n\r\n");
    assert!(matches!(wrote, std::task::Poll::Ready(Ok(19))), "{wrote:?}");
    assert!(!server.is_registered(), "the connection was registered");
    assert!(
        server.get_ref().nodelay().unwrap(),
        "Nagle is on for an accepted connection"
    );
    let mut answer = [0u8; 19];
    client.read_exact(&mut answer).unwrap();
}

/// A fresh connection whose client has sent nothing yet: `readable` answers once
/// without waiting, the read that follows would block, registers the socket and
/// waits; the client's bytes then wake it (nothing is lost between the failed read and
/// the registration). A second `readable` (the TLS listener's loop) waits for real.
#[test]
fn a_fresh_connection_registers_when_it_must_wait_and_is_woken_by_its_bytes() {
    let reactor = Arc::new(Reactor::new().unwrap());
    let _current = reactor::enter(reactor.clone());
    let (listener, addr) = bound();
    let mut client = StdStream::connect(addr).unwrap();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let server = accept_now(&listener, &mut cx);
    assert!(pin!(readable(&server)).as_mut().poll(&mut cx).is_ready());
    wait_readable(&server, &waker);
    let mut buf = [0u8; 8];
    let read = Pin::new(&mut &server).poll_read(&mut cx, &mut buf);
    assert!(read.is_pending(), "{read:?}");
    assert!(server.is_registered());
    client.write_all(b"x").unwrap();
    turn_until(&reactor, || count.0.load(SeqCst) >= 1);
    let read = Pin::new(&mut &server).poll_read(&mut cx, &mut buf);
    assert!(matches!(read, std::task::Poll::Ready(Ok(1))), "{read:?}");
}

/// Turns `reactor` once without sleeping; returns the events it took.
fn turn_now(reactor: &Reactor) -> usize {
    reactor.turn(&AtomicBool::new(true), &mut Turn::new())
}

/// Reads whatever `client` has, without blocking.
fn drain(client: &StdStream) {
    let mut buf = [0u8; 65536];
    while matches!((&*client).read(&mut buf), Ok(n) if n > 0) {}
}

/// Registers `server` by a read that has to wait (as a connection waiting for its next
/// request does): it is then watched for reads only.
fn register_to_read(server: &TcpStream, cx: &mut Context<'_>) {
    let mut buf = [0u8; 8];
    let read = Pin::new(&mut &*server).poll_read(cx, &mut buf);
    assert!(read.is_pending(), "{read:?}");
    assert!(server.is_registered());
}

/// A socket that registers to read is not reported writable by its registration: that
/// report woke the reactor for nothing once per connection (issue 24).
#[test]
fn a_socket_registered_to_read_costs_no_reactor_turn() {
    let reactor = Arc::new(Reactor::new().unwrap());
    let _current = reactor::enter(reactor.clone());
    let (_client, server) = pair();
    let waker = Waker::from(Arc::new(Count::default()));
    register_to_read(&server, &mut Context::from_waker(&waker));
    assert_eq!(turn_now(&reactor), 0, "the registration reported an event");
}

/// A reactor entered on this thread and a connected pair whose server end registered
/// by a read that waits, with a waker counting its wakes; the client does not block.
fn registered_to_read() -> (
    Arc<Reactor>,
    impl Drop,
    StdStream,
    TcpStream,
    Arc<Count>,
    Waker,
) {
    let reactor = Arc::new(Reactor::new().unwrap());
    let current = reactor::enter(reactor.clone());
    let (client, server) = pair();
    client.set_nonblocking(true).unwrap();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    register_to_read(&server, &mut Context::from_waker(&waker));
    (reactor, current, client, server, count, waker)
}

/// Writes `server` until a write has to wait (the client reads nothing meanwhile).
fn write_until_pending(server: &TcpStream, cx: &mut Context<'_>) {
    let chunk = vec![b'x'; 65536];
    for _ in 0..10_000 {
        if Pin::new(&mut &*server).poll_write(cx, &chunk).is_pending() {
            return;
        }
    }
    panic!("the send buffer never filled");
}

/// A socket watched for reads only goes on writing until a write has to wait; that
/// writer is woken once the peer reads, and the write then goes ahead.
#[test]
fn a_write_that_waits_on_a_socket_registered_to_read_is_woken_when_the_peer_reads() {
    let (reactor, _current, client, server, count, waker) = registered_to_read();
    let mut cx = Context::from_waker(&waker);
    write_until_pending(&server, &mut cx);
    turn_until(&reactor, || {
        drain(&client);
        count.0.load(SeqCst) >= 1
    });
    let wrote = Pin::new(&mut &server).poll_write(&mut cx, b"more");
    assert!(matches!(wrote, std::task::Poll::Ready(Ok(4))), "{wrote:?}");
}

/// The peer frees the send buffer between the write's EAGAIN and the writer's wait: no
/// edge comes after epoll starts watching writes, and the writer must still be woken
/// (`EPOLL_CTL_MOD` reports a socket writable already).
#[test]
fn a_write_whose_buffer_frees_before_writes_are_watched_is_still_woken() {
    let (reactor, _current, client, server, count, waker) = registered_to_read();
    let mut cx = Context::from_waker(&waker);
    let chunk = vec![b'x'; 65536];
    let mut blocked = false;
    for _ in 0..10_000 {
        let op = || {
            let wrote = server.get_ref().write(&chunk);
            if matches!(&wrote, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                blocked = true;
                drain(&client);
            }
            wrote
        };
        if server
            .poll_op(&mut cx, super::source::Dir::Write, op, |_| false)
            .is_pending()
        {
            break;
        }
    }
    assert!(blocked, "the send buffer never filled");
    turn_until(&reactor, || count.0.load(SeqCst) >= 1);
}

/// A thread about to sleep takes the socket events of another runtime thread's reactor
/// while that thread is not asleep in `epoll_wait` (busy, or left waiting for a CPU):
/// the socket's waiter is woken by the helper, and the owner's next turn finds nothing.
#[test]
fn a_busy_threads_socket_events_are_taken_by_a_thread_about_to_sleep() {
    let (owner, _current, client, _server, count, _waker) = registered_to_read();
    let _owner_listed = reactor::list(&owner);
    let helper = Arc::new(Reactor::new().unwrap());
    let _helper_listed = reactor::list(&helper);
    (&client).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while count.0.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the helper never took the event");
        helper.take_others_events(&mut Turn::new());
    }
    assert_eq!(count.0.load(SeqCst), 1);
    assert_eq!(turn_now(&owner), 0, "the owner was given the event as well");
}
