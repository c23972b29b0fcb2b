//! The reactor over real loopback sockets, driven turn by turn from the test thread.

use std::future::Future;
use std::io::Write;
use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use super::net::{readable, TcpStream};
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
        reactor.set_timer(Instant::now() + Duration::from_millis(50), None, &tick);
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
