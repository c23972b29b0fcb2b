//! A listening socket per thread (`SO_REUSEPORT`) with `threads = 2`: the kernel spreads
//! new connections over both threads, each accepting on its own socket
//! (`weir_connections_accepted_by_thread_total`); a reload keeps every thread's socket;
//! the address stays exclusive (a port in use is refused, and nobody else can bind
//! weir's); an upgrade hands every socket to the new process.

mod util;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::admin::{scrape, value};
use util::bin::{run, spawn, write_config};
use util::client::{get, once};
use util::wait::wait_until;
use weir::backend::Mode;
use weir::{Config, Proxy};

/// New connections tried before giving up on seeing both threads accept. The kernel
/// hashes each connection's address pair to one socket, so both show after a handful;
/// none in 400 would mean one thread's socket gets nothing.
const TRIES: usize = 400;

/// How long anything awaited here may take.
const WAIT: Duration = Duration::from_secs(30);

/// Connections accepted by `thread`'s own socket, per the admin listener's metrics.
fn accepted_by(admin: SocketAddr, thread: usize) -> f64 {
    let series = format!("weir_connections_accepted_by_thread_total{{thread=\"{thread}\"}}");
    value(&scrape(admin), &series).unwrap_or(0.0)
}

/// Opens new connections to `addr`, one request each, until both threads' sockets
/// accepted more than `before` (their counts then); panics after [`TRIES`]. The
/// portable and tokio backends keep one shared socket (they cannot place a task on a
/// thread): there a request is answered and no thread's count shows.
fn until_both_threads_accept(addr: SocketAddr, admin: SocketAddr, before: [f64; 2]) {
    if !weir::rt::DEFAULT_BACKEND {
        assert_eq!(once(addr, &get("/")).status, 200);
        let text = scrape(admin);
        assert!(!text.contains("accepted_by_thread"), "{text}");
        return;
    }
    for _ in 0..TRIES {
        assert_eq!(once(addr, &get("/")).status, 200);
        let now = [accepted_by(admin, 0), accepted_by(admin, 1)];
        if now[0] > before[0] && now[1] > before[1] {
            return;
        }
    }
    panic!(
        "in {TRIES} connections not both threads accepted: {}",
        scrape(admin)
    );
}

#[test]
fn new_connections_are_accepted_by_both_threads() {
    let backend = util::backend(Mode::Echo);
    let mut config = util::admin::config(&[backend]);
    config.threads = 2;
    let p = util::start(config);
    until_both_threads_accept(p.addr, p.admin.unwrap(), [0.0, 0.0]);
}

#[test]
fn a_reload_keeps_every_threads_socket() {
    let backend = util::backend(Mode::Echo);
    let mut first = util::admin::config(&[backend]);
    first.threads = 2;
    let next = Arc::new(Mutex::new(first.clone()));
    let source = next.clone();
    let proxy = Proxy::new(first)
        .handle_signals(false)
        .reload_from(move || Ok(source.lock().unwrap().clone()));
    let server = proxy.bind().expect("proxy starts");
    let (addr, admin, handle) = (
        server.local_addr(),
        server.admin_addr().unwrap(),
        server.handle(),
    );
    let running = std::thread::spawn(move || server.run());
    until_both_threads_accept(addr, admin, [0.0, 0.0]);

    // A reload that adds a listener keeps the first one's sockets, on both threads.
    let mut second: Config = next.lock().unwrap().clone();
    second
        .listen
        .push("127.0.0.1:0".parse::<SocketAddr>().unwrap().into());
    *next.lock().unwrap() = second;
    let reloads = || value(&scrape(admin), "weir_config_reloads_total{result=\"ok\"}");
    handle.reload();
    wait_until(WAIT, "the reload applied", || reloads() == Some(1.0));
    until_both_threads_accept(addr, admin, [accepted_by(admin, 0), accepted_by(admin, 1)]);
    handle.stop();
    running.join().unwrap().unwrap();
}

#[test]
fn a_port_in_use_is_refused_with_a_socket_per_thread() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap();
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.threads = 2;
    config.listen = vec![at.into()];
    let err = util::try_start(config).err().expect("the port is taken");
    assert!(
        err.to_string()
            .contains(&format!("cannot listen on {at}: ")),
        "{err}"
    );
    assert!(
        matches!(&err, weir::StartError::Bind(a, e) if *a == at && e.kind() == std::io::ErrorKind::AddrInUse),
        "{err:?}"
    );
}

#[test]
fn nobody_else_can_bind_the_address_of_a_socket_per_thread() {
    let mut config = util::config(&[util::backend(Mode::Echo)]);
    config.threads = 2;
    let p = util::start(config);
    let err = TcpListener::bind(p.addr).expect_err("weir holds the port");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(once(p.addr, &get("/")).status, 200);
}

#[test]
fn an_upgrade_hands_every_threads_socket_to_the_new_process() {
    let backend = util::backend(Mode::Echo);
    let text = format!(
        "threads = 2\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nservers = [\"{backend}\"]\n"
    );
    let config = write_config("per-thread-upgrade", &text);
    let mut old = spawn(&["serve", "--config", &config], "stderr", "listening on");
    let admin = util::admin::announced(&old);
    until_both_threads_accept(old.addr, admin, [0.0, 0.0]);

    let out = run(&["upgrade", "--pid", &old.child.id().to_string()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_pid = said
        .split_whitespace()
        .skip_while(|w| *w != "process")
        .nth(1)
        .unwrap_or_else(|| panic!("no pid in {said:?}"))
        .to_string();
    let _kill_new = KillOnDrop(new_pid);
    wait_until(WAIT, "the old process drained and exited", || {
        matches!(old.child.try_wait(), Ok(Some(_)))
    });
    // The new process (its counters from zero) accepts on both threads' sockets.
    until_both_threads_accept(old.addr, admin, [0.0, 0.0]);
}

/// Kills the upgraded process when the test ends.
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0])
            .status();
    }
}
