//! A listener's TLS across a reload: the certificate swapped under load with no failed
//! request, and listeners opened and closed. Real rustls clients over loopback,
//! certificates made at test time; the rest of HTTPS to clients is in `tls.rs`.

mod util;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::bin::temp_dir;
use util::listening::listening_on;
use util::tls::{connect, roundtrip, shown, tls_listener, Ca, Leaf};
use util::wait::{poll_until, wait_until, WAIT};
use weir::backend::Mode;
use weir::config::{Listener, ServerTls};
use weir::{Config, Proxy};

const GET: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n";

/// A config with a plain listener first and a TLS one second, over an echo origin.
fn plain_and_tls(tls: ServerTls) -> Config {
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.listen.push(tls_listener(tls));
    config
}

/// Writes the files of a listener's one certificate from `leaf` (as a renewal would).
fn install(leaf: &Leaf, cert: &std::path::Path, key: &std::path::Path) {
    std::fs::copy(&leaf.cert, cert).unwrap();
    std::fs::copy(&leaf.key, key).unwrap();
}

#[test]
fn reload_swaps_the_certificate_under_load_with_no_failed_request() {
    let dir = temp_dir("tls-reload");
    let ca = Ca::new();
    let first = ca.leaf(&dir, "first", &["a.test"]);
    let second = ca.leaf(&dir, "second", &["a.test"]);
    let (cert, key) = (dir.join("site.pem"), dir.join("site.key"));
    install(&first, &cert, &key);
    let proxy = util::start_reloadable(plain_and_tls(ServerTls::single(&cert, &key)));
    let addr = proxy.addrs[1];
    let client = ca.client(&[]);

    // Load: connections opened and used in a loop while the certificate changes. The
    // test waits for the load to be under way before the reload and to go on after the
    // new certificate is served, so the load spans the reload however the threads are
    // scheduled (checking only `done > 0` at the end, a load thread started late could
    // have done nothing, or everything before the reload).
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, done, client) = (stop.clone(), done.clone(), client.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let s = connect(addr, "a.test", client.clone()).expect("handshake under load");
                let (resp, s) = roundtrip(s, GET);
                assert_eq!(resp.status, 200);
                assert_eq!(roundtrip(s, GET).0.status, 200);
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let load_reaches = |n: usize, what: &str| {
        wait_until(WAIT, what, || {
            done.load(Ordering::SeqCst) >= n || load.is_finished()
        })
    };
    load_reaches(1, "the load is under way");
    let s = connect(addr, "a.test", client.clone()).unwrap();
    assert!(shown(&s) == first.der);

    install(&second, &cert, &key);
    proxy.handle.reload();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = connect(addr, "a.test", client.clone()).unwrap();
        if shown(&s) == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate never arrived"
        );
        std::thread::yield_now();
    }
    let at_the_swap = done.load(Ordering::SeqCst);
    load_reaches(at_the_swap + 2, "the load goes on after the swap");

    stop.store(true, Ordering::SeqCst);
    load.join().expect("no failed request under load");
    proxy.stop().unwrap();
}

/// An address of 127/8 made from this process's id, which no other test uses: a
/// listener on its port 0 is found by its address alone (see `listening_on`).
fn own_loopback_ip() -> Ipv4Addr {
    let [_, a, b, c] = std::process::id().to_be_bytes();
    Ipv4Addr::new(127, 64 | a, b, c)
}

/// Waits until connecting to `addr` succeeds (`true`) or is refused (`false`).
fn until_connect(addr: SocketAddr, want: bool) -> bool {
    poll_until(WAIT, || TcpStream::connect(addr).is_ok() == want)
}

#[test]
fn reload_opens_new_listeners_and_closes_removed_ones() {
    let dir = temp_dir("tls-relisten");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    let config = util::config(&[util::backend(Mode::Echo)]);
    let next = Arc::new(Mutex::new(config.clone()));
    let source = next.clone();
    let server = Proxy::new(config.clone())
        .handle_signals(false)
        .reload_from(move || Ok(source.lock().unwrap().clone()))
        .bind()
        .unwrap();
    let plain = server.local_addr();
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run());

    // Add a TLS listener on port 0 of an address no other test process uses, and find
    // the port it got: a port chosen here could be taken by a parallel test before
    // weir binds it, answering in weir's place.
    let ip = own_loopback_ip();
    next.lock().unwrap().listen.push(Listener {
        addr: SocketAddr::from((ip, 0)),
        tls: Some(ServerTls::single(&leaf.cert, &leaf.key)),
        name: None,
        h2: false,
        h2c: false,
        proxy_protocol: None,
        reuse_port: false,
    });
    handle.reload();
    let opened = poll_until(WAIT, || listening_on(ip).len() == 1);
    assert!(opened, "the new listener never opened");
    let added = listening_on(ip)[0];
    let s = connect(added, "a.test", ca.client(&[])).unwrap();
    let (resp, s) = roundtrip(s, GET);
    assert_eq!(resp.status, 200);

    // Remove it again: no new connections; the open one finishes its next request.
    next.lock().unwrap().listen.pop();
    handle.reload();
    assert!(
        until_connect(added, false),
        "the removed listener still accepts"
    );
    assert_eq!(roundtrip(s, GET).0.status, 200);
    assert_eq!(util::client::once(plain, GET).status, 200);
    handle.stop();
    thread.join().unwrap().unwrap();
}
