//! Zero-downtime upgrades through the real binary: `weir upgrade --pid PID` (SIGUSR2)
//! in the middle of load, with open keep-alive and WebSocket connections, and upgrades
//! that fail (a config that does not load, a binary that exits or never gets ready),
//! which must leave the old process serving with the reason logged.
//!
//! The new process writes to the old one's stderr (it inherits it), so the test reads
//! both in one stream. Each test kills the new process when it ends ([`NewProcess`]).

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;
use util::bin::{run, spawn, spawn_command, temp_dir, write_config, ConfigFile, Running};
use util::client::{get, once, Conn};
use util::origin::{ok, origin, Origin};
use util::wait::wait_until;

/// How long anything awaited here may take.
const WAIT: Duration = Duration::from_secs(30);

/// The process an upgrade started; killed when the test ends.
struct NewProcess(u32);

impl Drop for NewProcess {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

/// Runs `weir upgrade --pid` for `old`: the new process, or the command's stderr.
fn upgrade(old: &Running) -> Result<NewProcess, String> {
    let out = run(&["upgrade", "--pid", &old.child.id().to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        return Err(stderr);
    }
    let pid = stdout
        .split_whitespace()
        .skip_while(|w| *w != "process")
        .nth(1)
        .and_then(|p| p.parse().ok());
    Ok(NewProcess(
        pid.unwrap_or_else(|| panic!("no pid in {stdout:?}")),
    ))
}

/// Waits until `child` exits, at most `limit`: whether it did.
fn exits_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The access log, to /dev/null: on stdout (the default) it would fill the pipe
/// `spawn` makes and reads nothing from, and weir would stall writing it.
const QUIET_LOG: &str = "[[middleware]]\nbuiltin = \"log\"\nconfig = { path = \"/dev/null\" }\n";

/// weir in front of `backend` with a listener and an admin listener on port 0 (matched
/// to the handed-over sockets by their configured address), and `extra` appended. No
/// upstream keep-alive: [`slow_and_echo`]'s router picks a server per connection.
fn start(name: &str, backend: SocketAddr, extra: &str) -> (Running, ConfigFile) {
    let text = format!(
        "listen = \"127.0.0.1:0\"\n{extra}\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nservers = [\"{backend}\"]\nkeepalive = 0\n{QUIET_LOG}"
    );
    let config = write_config(name, &text);
    let weir = spawn(&["serve", "--config", &config], "stderr", "listening on");
    (weir, config)
}

/// One GET `/` on `conn` (opened anew when `None`), retried once on a fresh connection
/// when a reused one is found closed before any response byte: the race every
/// keep-alive client meets when a server closes an idle connection, which HTTP lets
/// it retry for idempotent requests (RFC 9112 §9.3.1), as browsers and curl do.
/// Whether it got 200 `fast`; the connection to use next (none after `close`).
fn request(addr: SocketAddr, conn: Option<Conn>, retried: &AtomicUsize) -> (bool, Option<Conn>) {
    let reused = conn.is_some();
    let mut c = match conn.map_or_else(|| TcpStream::connect(addr).map(Conn::from), Ok) {
        Ok(c) => c,
        Err(_) => return (false, None),
    };
    let answer = match c.reader.get_mut().write_all(&get("/")) {
        Ok(()) => c.read(false),
        Err(_) => None,
    };
    match answer {
        Some(r) => {
            let good = r.status == 200 && r.body == b"fast";
            let close = r.header("connection") == Some("close");
            (good, (!close).then_some(c))
        }
        None if reused => {
            retried.fetch_add(1, Ordering::Relaxed);
            request(addr, None, retried)
        }
        None => (false, None),
    }
}

/// Counts of a client loop.
#[derive(Default)]
struct Tally {
    done: AtomicUsize,
    failed: AtomicUsize,
    retried: AtomicUsize,
}

/// A client until `stop` (or `max` requests): ten requests on a keep-alive connection,
/// then one on a connection of its own, again and again.
fn client(addr: SocketAddr, tally: Arc<Tally>, stop: Arc<AtomicBool>, max: usize) {
    let mut conn = None;
    for i in 0..max {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let fresh = i % 11 == 10;
        let use_conn = if fresh { None } else { conn.take() };
        let (good, next) = request(addr, use_conn, &tally.retried);
        if !fresh {
            conn = next;
        }
        tally.done.fetch_add(1, Ordering::Relaxed);
        if !good {
            tally.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn an_upgrade_under_load_fails_no_request() {
    let origin = origin(|_| ok(b"fast"));
    let (mut weir, _config) = start("under-load", origin.addr, "");
    let admin = util::admin::announced(&weir);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (tally, stop) = (tally.clone(), stop.clone());
            let addr = weir.addr;
            thread::spawn(move || client(addr, tally, stop, 20_000))
        })
        .collect();
    wait_until(WAIT, "300 answers from the first process", || {
        tally.done.load(Ordering::Relaxed) >= 300
    });

    let new = upgrade(&weir).expect("the upgrade succeeds");
    let upgraded = Instant::now();
    let exited = exits_within(&mut weir.child, WAIT);
    let drain = upgraded.elapsed();
    let log = weir.later.snapshot();
    let log: Vec<_> = log.iter().filter(|l| !l.contains("GET /")).collect();
    assert!(
        exited,
        "the old process drains and exits: {:?}",
        &log[log.len().saturating_sub(8)..]
    );
    let at_exit = tally.done.load(Ordering::Relaxed);
    // Only the new process holds the sockets now; it must carry the load on.
    wait_until(WAIT, "300 more answers from the new process", || {
        tally.done.load(Ordering::Relaxed) >= at_exit + 300
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failed = tally.failed.load(Ordering::Relaxed);
    let done = tally.done.load(Ordering::Relaxed);
    let retried = tally.retried.load(Ordering::Relaxed);
    let how = format!("{done} requests, {retried} retried, the old process gone {drain:?} after");
    assert_eq!(failed, 0, "{failed} failed: {how}");
    eprintln!("{how}");
    // The admin listener was handed over too.
    util::admin::scrape(admin);
    let lines = weir.later.snapshot().join("\n");
    assert!(
        lines.contains(&format!("new process {} is ready", new.0)),
        "{lines}"
    );
}

/// An origin whose `/slow` answers only once the test says so, and a WebSocket echo
/// on `/chat`, both on one port (weir's upstream).
struct SlowAndEcho {
    addr: SocketAddr,
    release: mpsc::Sender<()>,
}

fn slow_and_echo() -> SlowAndEcho {
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let http: Origin = origin(move |req| match req.target.as_str() {
        "/slow" => {
            released.lock().unwrap().recv_timeout(WAIT).unwrap();
            ok(b"slow")
        }
        _ => ok(b"fast"),
    });
    // WebSocket connections go to an echo server; weir's one upstream is a tiny router.
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    thread::spawn(move || {
        for stream in echo.incoming().flatten() {
            thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if msg.is_text() && ws.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = front.local_addr().unwrap();
    let http_addr = http.addr;
    thread::spawn(move || {
        let _keep = http;
        for stream in front.incoming().flatten() {
            thread::spawn(move || route(stream, http_addr, echo_addr));
        }
    });
    SlowAndEcho { addr, release }
}

/// Splices `stream` to the echo server when its first request is a WebSocket
/// handshake, else to the HTTP origin.
fn route(stream: TcpStream, http: SocketAddr, echo: SocketAddr) {
    // The request line's start may come in pieces: peek until it is all there.
    let mut start = [0u8; 9];
    while matches!(stream.peek(&mut start), Ok(n) if n > 0 && n < start.len()) {
        thread::sleep(Duration::from_millis(1));
    }
    let websocket = &start == b"GET /chat";
    let to = TcpStream::connect(if websocket { echo } else { http }).unwrap();
    let (mut a, mut b) = (stream.try_clone().unwrap(), to.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(std::net::Shutdown::Write);
    });
    let (mut a, mut b) = (to, stream);
    let _ = std::io::copy(&mut a, &mut b);
    let _ = b.shutdown(std::net::Shutdown::Write);
}

#[test]
fn open_keep_alive_and_websocket_connections_finish_on_the_old_process() {
    let origin = slow_and_echo();
    let extra = "[timeouts]\ndrain = \"3s\"";
    let (mut weir, _config) = start("open-conns", origin.addr, extra);
    // A keep-alive connection with one request answered and a slow one in flight.
    let mut keep = Conn::open(weir.addr);
    assert_eq!(keep.roundtrip(&get("/")).status, 200);
    keep.send(&get("/slow"));
    let stream = TcpStream::connect(weir.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let url = format!("ws://{}/chat", weir.addr);
    let (mut ws, res) = tungstenite::client::client(url, stream).expect("handshake");
    assert_eq!(res.status(), 101);

    let _new = upgrade(&weir).expect("the upgrade succeeds");
    // New connections reach the new process while the old one drains.
    assert_eq!(once(weir.addr, &get("/")).status, 200);
    // The WebSocket still works on the old process during the drain.
    ws.send(Message::text("after the upgrade")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("after the upgrade"));
    // The in-flight request is answered, with `Connection: close`, then the close.
    origin.release.send(()).unwrap();
    let slow = keep.read(false).expect("the in-flight request is answered");
    assert_eq!((slow.status, slow.text().as_str()), (200, "slow"));
    assert_eq!(slow.header("connection"), Some("close"));
    assert!(keep.is_closed());
    // At the end of the drain the old process closes the tunnel and exits.
    assert!(
        exits_within(&mut weir.child, WAIT),
        "the old process exits after its drain"
    );
    assert!(
        ws.read().is_err(),
        "the WebSocket is closed with the old process"
    );
}

/// The old process still serves, and its log says why the upgrade failed.
fn still_serving_after(weir: &Running, why: &str, told: &str) {
    assert!(told.contains(why), "weir upgrade says why: {told}");
    let line = weir
        .later
        .wait_for("upgrade failed", WAIT)
        .expect("failure logged");
    assert!(line.contains(why), "{line}");
    assert!(line.contains("keeps serving"), "{line}");
    assert_eq!(once(weir.addr, &get("/")).status, 200);
}

#[test]
fn a_config_that_does_not_load_leaves_the_old_process_serving() {
    let origin = origin(|_| ok(b"fast"));
    let (weir, config) = start("bad-config", origin.addr, "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("bogus = 1\n");
    std::fs::write(&config, text).unwrap();
    let told = upgrade(&weir).err().expect("the upgrade fails");
    still_serving_after(&weir, "exited (exit status: 1)", &told);
    // The new process said what was wrong with the file on the shared stderr.
    let lines = weir.later.snapshot().join("\n");
    assert!(lines.contains("unknown field `bogus`"), "{lines}");
}

/// weir run from a copy of the binary in a temp dir, which the test may replace.
fn start_copy(name: &str, extra: &str) -> (Running, std::path::PathBuf, Origin) {
    let origin = origin(|_| ok(b"fast"));
    let dir = temp_dir(name);
    let exe = dir.join("weir");
    std::fs::copy(env!("CARGO_BIN_EXE_weir"), &exe).unwrap();
    let text = format!(
        "listen = \"127.0.0.1:0\"\n{extra}\n[upstream]\nservers = [\"{}\"]\n{QUIET_LOG}",
        origin.addr
    );
    let config = dir.join("weir.toml");
    std::fs::write(&config, text).unwrap();
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(["serve", "--config"]).arg(&config);
    let weir = spawn_command(cmd, "stderr", "listening on").holding(dir);
    (weir, exe, origin)
}

/// Puts a shell script at `exe`, as a package upgrade replaces a file: a new file
/// renamed over the old (the running process keeps its own).
fn replace_with_script(exe: &std::path::Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let fresh = exe.with_extension("new");
    std::fs::write(&fresh, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&fresh, exe).unwrap();
}

#[test]
fn a_new_binary_that_exits_leaves_the_old_process_serving() {
    let (weir, exe, _origin) = start_copy("binary-exits", "");
    replace_with_script(&exe, "exit 3");
    let told = upgrade(&weir).err().expect("the upgrade fails");
    still_serving_after(&weir, "exited (exit status: 3)", &told);
}

#[test]
fn a_new_binary_never_ready_is_stopped_and_the_old_process_serves() {
    let (weir, exe, _origin) = start_copy("binary-hangs", "[timeouts]\nupgrade = \"1s\"");
    replace_with_script(&exe, "exec sleep 60");
    let told = upgrade(&weir).err().expect("the upgrade fails");
    still_serving_after(&weir, "not ready within timeouts.upgrade", &told);
}

#[test]
fn weir_upgrade_needs_a_pid_and_says_when_there_is_no_such_process() {
    let out = run(&["upgrade"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--pid PID is required"), "{err}");
    // Past the largest pid Linux hands out (4194304): no process has it.
    let out = run(&["upgrade", "--pid", "4194305"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot signal process 4194305"), "{err}");
}
