//! Graceful shutdown: in-flight requests finish, idle connections close, exit 0.

mod util;

use std::net::TcpStream;
use std::sync::mpsc::channel;
use std::sync::Mutex;
use std::time::Duration;

use util::bin::{signal, spawn};
use util::client::{get, once, Conn};
use util::origin::{ok, origin};

#[test]
fn stop_lets_an_in_flight_slow_response_finish() {
    let (arrived_tx, arrived) = channel();
    let (release, released) = channel::<()>();
    let (arrived_tx, released) = (Mutex::new(arrived_tx), Mutex::new(released));
    let o = origin(move |r| {
        if r.target == "/slow" {
            arrived_tx.lock().unwrap().send(()).unwrap();
            released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20))
                .unwrap();
        }
        ok(b"finished")
    });
    let proxy = util::start(util::config(&[o.addr]));
    let addr = proxy.addr;
    let mut idle = Conn::open(addr);
    assert_eq!(idle.roundtrip(&get("/warm")).status, 200);

    let mut busy = Conn::open(addr);
    busy.send(&get("/slow"));
    arrived.recv_timeout(Duration::from_secs(20)).unwrap(); // the request is at the origin
    proxy.handle.stop();
    assert!(
        idle.is_closed(),
        "idle keep-alive connections close on shutdown"
    );
    release.send(()).unwrap();
    let r = busy.read(false).unwrap();
    assert_eq!(r.text(), "finished");
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "the last response announces the close"
    );
    proxy.stop().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let o = origin(|_| ok(b"up"));
    let upstream = o.addr.to_string();
    let mut weir = spawn(
        &["serve", "--listen", "127.0.0.1:0", "--upstream", &upstream],
        "stderr",
        "listening on",
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "up");
    signal(&weir.child, "TERM");
    let status = weir.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}
