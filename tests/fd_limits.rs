//! Running out of file descriptors, with the real binary under a low `prlimit`
//! (util-linux): the soft limit is raised at start-up with a warning when
//! `max_connections` cannot fit, and when descriptors run out weir pauses accepting,
//! logs the episode once, and serves again once connections close.
#![cfg(target_os = "linux")]

mod util;

use std::fs;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use util::bin::{spawn_command, temp_dir, Running};
use util::client::{get, once};
use weir::backend::Mode;

/// weir serving one built-in origin, under `prlimit --nofile=LIMITS`.
fn weir_under(limits: &str, name: &str) -> Running {
    let up = util::backend(Mode::Name("fine".into()));
    let path = temp_dir(name).join("weir.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 1\n[upstream]\nservers = [\"{up}\"]\n\
         [[middleware]]\nbuiltin = \"balancer\"\n"
    );
    fs::write(&path, text).unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={limits}"))
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config"])
        .arg(&path);
    spawn_command(cmd, "stderr", "listening on")
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
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
}

#[test]
fn out_of_descriptors_weir_pauses_accepting_then_serves_again() {
    let weir = weir_under("64:64", "exhaust");
    // More idle clients than weir has descriptors: the kernel completes their
    // handshakes, weir accepts until EMFILE.
    let clients: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(weir.addr).unwrap())
        .collect();
    let wait = Duration::from_secs(20);
    let first = weir.later.wait_for("accept failed", wait);
    let first = first.unwrap_or_else(|| panic!("no EMFILE: {:?}", weir.later.snapshot()));
    assert!(first.contains("too many open files"), "{first}");
    drop(clients);
    // Descriptors come back as weir sees those clients go: it serves again.
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
    // Each episode is logged twice, when it begins and when it ends (accepting the
    // closed clients still queued may start another), never once per failed accept.
    let count = |lines: &[String], text: &str| lines.iter().filter(|l| l.contains(text)).count();
    let balanced = weir.later.wait_until(wait, |lines| {
        count(lines, "accept failed") == count(lines, "accepting again")
    });
    let lines = weir.later.snapshot();
    assert!(
        balanced,
        "an episode without an end, or a line per failure: {lines:?}"
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
}

#[test]
fn out_of_descriptors_for_upstream_connects_is_503_and_no_servers_fault() {
    // An origin that holds every request until the test opens the gate, so each
    // request in flight keeps an upstream connection (and its descriptor) busy.
    let gate = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let held = gate.clone();
    let origin = util::origin::origin(move |_| {
        let (open, cv) = &*held;
        let _open = cv.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
        util::origin::ok(b"held")
    });
    let path = temp_dir("connect-emfile").join("weir.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 1\n[upstream]\nservers = [\"{}\"]\n\
         max_fails = 1\nfail_timeout = \"60s\"\nretries = 0\n\
         [[middleware]]\nbuiltin = \"balancer\"\n",
        origin.addr
    );
    fs::write(&path, text).unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nofile=64:64")
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config"])
        .arg(&path);
    let weir = spawn_command(cmd, "stderr", "listening on");
    let addr = weir.addr;
    // First more client connections than descriptors, so that the clients alone use
    // them up: once weir says so, every upstream connect must fail for want of one.
    // (Sending at once would race: a weir fast enough to serve each client as it
    // comes uses the last descriptor in accept, and no connect ever fails.)
    let conns: Vec<_> = (0..80).map(|_| util::client::Conn::open(addr)).collect();
    let wait = Duration::from_secs(20);
    let full = weir.later.wait_for("accept failed", wait);
    full.unwrap_or_else(|| panic!("no EMFILE: {:?}", weir.later.snapshot()));
    let clients: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            std::thread::spawn(move || {
                let r = conn.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                r.status
            })
        })
        .collect();
    let shortage = weir.later.wait_for("while connecting upstream", wait);
    let shortage = shortage.unwrap_or_else(|| panic!("no shortage: {:?}", weir.later.snapshot()));
    assert!(
        shortage.contains("local: too many open files"),
        "{shortage}"
    );
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only served or refused locally: {statuses:?}"
    );
    // The server was never blamed: it is not down, and the next request reaches it.
    assert_eq!(once(addr, &get("/")).text(), "held");
    let lines = weir.later.snapshot();
    assert!(!lines.iter().any(|l| l.contains("is down")), "{lines:?}");
    // Logged when an episode begins and when it ends, not once per refused request.
    let count = |text: &str| lines.iter().filter(|l| l.contains(text)).count();
    let (begun, ended) = (
        count("while connecting upstream"),
        count("connects work again"),
    );
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert!(begun - ended <= 1 && begun < refused.max(2), "{lines:?}");
}
