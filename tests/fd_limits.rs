//! Running out of file descriptors, with the real binary under a low `prlimit`
//! (util-linux): the soft limit is raised at start-up, weir holds only as many clients
//! as fit in it (the rest wait in the listen backlog, so a burst past it is served in
//! full), and when descriptors run out all the same (here: the limit lowered under a
//! running weir) it pauses accepting, answers 503 without blaming the server, logs
//! each episode once, and serves again once descriptors are back.
#![cfg(target_os = "linux")]

mod util;

use std::fs;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use util::bin::{spawn_command, temp_dir, Running};
use util::client::{burst, get, once, Conn};
use weir::backend::Mode;

/// weir serving one built-in origin, under `prlimit --nofile=LIMITS`.
fn weir_under(limits: &str, name: &str) -> Running {
    weir_with(limits, name, "[[middleware]]\nbuiltin = \"balancer\"\n")
}

/// weir under `prlimit --nofile=LIMITS` in front of one built-in origin, its
/// `[upstream]` table and the rest of its config ending in `more`.
fn weir_with(limits: &str, name: &str, more: &str) -> Running {
    let up = util::backend(Mode::Name("fine".into()));
    let dir = temp_dir(name);
    let path = dir.join("weir.toml");
    let text =
        format!("listen = \"127.0.0.1:0\"\nthreads = 1\n[upstream]\nservers = [\"{up}\"]\n{more}");
    fs::write(&path, text).unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={limits}"))
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config"])
        .arg(&path);
    spawn_command(cmd, "stderr", "listening on").holding(dir)
}

/// The "Max open files" soft and hard limits of process `pid`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut words = line["Max open files".len()..].split_whitespace();
    let soft = words.next().unwrap().to_string();
    (soft, words.next().unwrap().to_string())
}

#[test]
fn the_soft_limit_is_raised_to_the_hard_one_with_a_warning_when_too_low() {
    let weir = weir_under("64:4096", "raise");
    assert_eq!(
        open_file_limits(weir.child.id()),
        ("4096".to_string(), "4096".to_string())
    );
    // The default max_connections (10,000) needs about 20,000: weir says so.
    let warning = weir
        .preamble
        .iter()
        .find(|l| l.contains("warning: limits.max_connections = 10000"))
        .unwrap_or_else(|| panic!("no warning in {:?}", weir.preamble));
    assert!(
        warning.contains("the limit is 4096 (hard 4096)"),
        "{warning}"
    );
    // Two descriptors a client, less what the pool, the thread and the rest keep.
    assert!(
        warning.contains("weir holds 2014 clients at once"),
        "{warning}"
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
}

#[test]
fn a_burst_past_what_an_open_file_limit_of_256_holds_is_served_in_full() {
    const CLIENTS: usize = 1000;
    let limit = weir::rt::raise_fd_limit().expect("open-file limits");
    assert!(limit.soft as usize > 2 * CLIENTS, "{limit:?}");
    let weir = weir_under("256:256", "burst-256");
    let said = weir.preamble.iter().find(|l| l.contains("weir holds"));
    assert!(
        said.is_some_and(|l| l.contains("holds 94 clients")),
        "{said:?}"
    );
    // All connect and send before any reads: 94 are held, the rest wait in the backlog,
    // and none is answered 503 for want of a descriptor to the origin.
    let _clients = burst(weir.addr, CLIENTS, "fine\n");
    let lines = weir.later.snapshot();
    assert!(
        !lines.iter().any(|l| l.contains("accept failed")),
        "{lines:?}"
    );
}

/// The descriptors process `pid` has open, by number.
fn open_fds(pid: u32) -> Vec<u32> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    dir.map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect()
}

/// Waits until `pid` has at least `n` descriptors open.
fn wait_for_fds(pid: u32, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds(pid).len() < n {
        assert!(
            Instant::now() < deadline,
            "{pid} never held {n} descriptors"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sets the soft open-file limit of the running `pid` (the hard one stays 256): just
/// below its lowest free descriptor number leaves it none to open.
fn set_soft_limit(pid: u32, soft: Option<u32>) {
    let soft = soft.unwrap_or_else(|| {
        let open = open_fds(pid);
        (0..).find(|n| !open.contains(n)).unwrap()
    });
    let ok = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:256")])
        .status()
        .expect("prlimit runs");
    assert!(ok.success());
}

#[test]
fn out_of_descriptors_weir_pauses_accepting_then_serves_again() {
    let weir = weir_under("256:256", "exhaust");
    let pid = weir.child.id();
    let before = open_fds(pid).len();
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(weir.addr).unwrap())
        .collect();
    wait_for_fds(pid, before + idle.len());
    set_soft_limit(pid, None);
    // One more client: the kernel completes its handshake, weir's accept fails.
    let late = TcpStream::connect(weir.addr).unwrap();
    let wait = Duration::from_secs(20);
    let first = weir.later.wait_for("accept failed", wait);
    let first = first.unwrap_or_else(|| panic!("no EMFILE: {:?}", weir.later.snapshot()));
    assert!(first.contains("too many open files"), "{first}");
    // Descriptors are back: the client that waited is accepted, and all is served.
    set_soft_limit(pid, Some(256));
    let again = weir.later.wait_for("accepting again", wait);
    assert!(again.is_some(), "{:?}", weir.later.snapshot());
    let mut late = Conn::from(late);
    assert_eq!(late.roundtrip(&get("/")).text(), "fine\n");
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
    // One episode, logged when it began and when it ended, not once per failed accept.
    let lines = weir.later.snapshot();
    let count = |text: &str| lines.iter().filter(|l| l.contains(text)).count();
    assert_eq!(
        (count("accept failed"), count("accepting again")),
        (1, 1),
        "{lines:?}"
    );
    drop(idle);
}

#[test]
fn out_of_descriptors_for_upstream_connects_is_503_no_servers_fault_and_logged_so() {
    let log_dir = temp_dir("connect-emfile-log");
    let log = log_dir.join("access.log");
    let more = format!(
        "max_fails = 1\nfail_timeout = \"60s\"\nretries = 0\n\
         [[middleware]]\nbuiltin = \"log\"\nconfig = {{ path = {:?} }}\n\
         [[middleware]]\nbuiltin = \"balancer\"\n",
        log.display().to_string()
    );
    let weir = weir_with("256:256", "connect-emfile", &more);
    let pid = weir.child.id();
    // Clients accepted before any upstream connection is open; then no descriptor is
    // left, so each of their requests finds none for its upstream connect.
    let before = open_fds(pid).len();
    let mut clients: Vec<Conn> = (0..10).map(|_| Conn::open(weir.addr)).collect();
    wait_for_fds(pid, before + clients.len());
    set_soft_limit(pid, None);
    for c in &mut clients {
        let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 503);
    }
    let wait = Duration::from_secs(20);
    let shortage = weir.later.wait_for("while connecting upstream", wait);
    let shortage = shortage.unwrap_or_else(|| panic!("no shortage: {:?}", weir.later.snapshot()));
    assert!(
        shortage.contains("local: too many open files"),
        "{shortage}"
    );
    // The server was never blamed: it is not down, and the next request reaches it.
    set_soft_limit(pid, Some(256));
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
    // Logged when the episode began and when it ended, not once per refused request.
    let ended = weir.later.wait_for("connects work again", wait);
    let lines = weir.later.snapshot();
    assert!(ended.is_some(), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("is down")), "{lines:?}");
    let count = |text: &str| lines.iter().filter(|l| l.contains(text)).count();
    assert_eq!(count("while connecting upstream"), 1, "{lines:?}");
    // The access log says why each was refused, after the balancer's pick.
    let why = "\" 503 ";
    let reason = "reason=\"rr; local: too many open files\"";
    let refused = |text: &str| {
        let lines = text.lines();
        lines
            .filter(|l| l.contains(why) && l.contains(reason))
            .count()
    };
    let deadline = Instant::now() + wait;
    let mut access = fs::read_to_string(&log).unwrap_or_default();
    while refused(&access) < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        access = fs::read_to_string(&log).unwrap_or_default();
    }
    assert_eq!(refused(&access), 10, "{access}");
}
