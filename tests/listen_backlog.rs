//! `limits.listen_backlog` with the real binary: the kernel's queue of connections not
//! yet accepted is as large as configured (std's 128 overflowed under a burst of 2,000,
//! and the kernel dropped SYNs), the host's cap is said out loud, and bad values are
//! refused naming the key. `ss` (iproute2) reads a listening socket's backlog: its
//! Send-Q column.
#![cfg(target_os = "linux")]

mod util;

use std::net::SocketAddr;
use std::process::Command;

use util::bin::{assert_refused, spawn, write_config, Running};
use util::client::{get, once};
use weir::backend::Mode;

/// weir in front of a built-in origin, with `limits` as the `[limits]` table's body.
fn weir_with(limits: &str, name: &str) -> Running {
    let up = util::backend(Mode::Name("fine".into()));
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 1\n[limits]\n{limits}\n[upstream]\n\
         servers = [\"{up}\"]\n[[middleware]]\nbuiltin = \"balancer\"\n"
    );
    let path = write_config(name, &text);
    spawn(&["serve", "--config", &path], "stderr", "listening on").holding(path)
}

/// The backlog of the socket listening on `addr`, as `ss -ltn` shows it (Send-Q).
fn backlog_of(addr: SocketAddr) -> u32 {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", addr.port())])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no listener: {text}"));
    // State, Recv-Q (connections queued now), Send-Q (the backlog), local, peer.
    let send_q = line.split_whitespace().nth(2).expect("a Send-Q column");
    send_q.parse().unwrap_or_else(|_| panic!("{line}"))
}

fn somaxconn() -> u32 {
    weir::rt::somaxconn().expect("Linux reports net.core.somaxconn")
}

#[test]
fn the_configured_backlog_reaches_the_listening_socket() {
    let weir = weir_with("listen_backlog = 1000", "backlog-1000");
    assert_eq!(backlog_of(weir.addr), 1000.min(somaxconn()));
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
}

#[test]
fn by_default_the_backlog_is_4096_or_the_hosts_cap() {
    let weir = weir_with("", "backlog-default");
    assert_eq!(backlog_of(weir.addr), 4096.min(somaxconn()));
}

#[test]
fn a_backlog_past_the_hosts_cap_is_capped_and_said_so() {
    let cap = somaxconn();
    if cap >= 65_535 {
        return; // nothing weir accepts lies past this host's cap
    }
    let weir = weir_with(&format!("listen_backlog = {}", cap + 1), "backlog-capped");
    assert_eq!(backlog_of(weir.addr), cap);
    let said = format!("limits.listen_backlog = {} is capped at {cap}", cap + 1);
    assert!(
        weir.preamble.iter().any(|l| l.contains(&said)),
        "{:?}",
        weir.preamble
    );
}

#[test]
fn a_bad_backlog_is_refused_naming_the_key() {
    for (name, value, want) in [
        ("zero", "0", "must be between 1 and 65535"),
        ("huge", "65536", "must be between 1 and 65535"),
        ("negative", "-1", "limits.listen_backlog"),
        ("text", "\"lots\"", "limits.listen_backlog"),
    ] {
        let text = format!(
            "listen = \"127.0.0.1:0\"\n[limits]\nlisten_backlog = {value}\n\
             [upstream]\nservers = [\"127.0.0.1:9\"]\n"
        );
        let path = write_config(&format!("backlog-{name}"), &text);
        assert_refused(name, &path, want);
        assert_refused(name, &path, "limits.listen_backlog");
    }
}
