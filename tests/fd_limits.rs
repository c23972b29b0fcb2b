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
