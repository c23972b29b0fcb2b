//! A worker that keeps up with its sockets does not `sched_yield` (issue 24).
//!
//! After a batch's writes the epoll backend yields the CPU so that a peer those writes
//! woke on the same CPU answers before the next batch (`src/rt/epoll/give_way.rs`). That
//! pays only where the next turn would find more work at once; a turn of one event means
//! the next `epoll_wait` most likely sleeps, handing the CPU over for free. So sequential
//! keep-alive requests, one at a time on one connection, must cost no yield: before
//! this rule each cost two (8 system calls per request against nginx's 7).
//!
//! The real binary runs under `strace -f -c -e trace=sched_yield` (installed by
//! `.ci/run`), which counts the calls of every thread and writes the count when weir
//! exits.
#![cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]

mod util;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use util::bin::{spawn_command, temp_dir, write_config};
use util::origin::{ok, origin};

const REQUESTS: usize = 200;

/// Fewer than one yield per ten requests (two per request before the rule; a few may
/// come from turns that took the connection's arrival with its first request).
const MOST_YIELDS: u64 = (REQUESTS / 10) as u64;

#[test]
fn sequential_keep_alive_requests_cost_no_yield() {
    let origin = origin(|_| ok(b"hello"));
    let config = write_config(
        "quiet-yield",
        &format!(
            "listen = \"127.0.0.1:0\"\nthreads = 1\n[upstream]\nservers = [\"{}\"]\n\
             [[middleware]]\nbuiltin = \"balancer\"\n",
            origin.addr
        ),
    );
    let counts_dir = temp_dir("quiet-yield-strace");
    let counts = counts_dir.join("calls");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-c", "-e", "trace=sched_yield", "-o"])
        .arg(&counts)
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config", &config]);
    let mut weir = spawn_command(cmd, "stderr", "listening on");

    let mut client = TcpStream::connect(weir.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for i in 0..REQUESTS {
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: quiet.test\r\n\r\n")
            .unwrap();
        let response = read_response(&mut client);
        assert!(response.ends_with(b"hello"), "response {i}: {response:?}");
    }
    drop(client);

    stop_traced(weir.child.id());
    let status = weir.child.wait().unwrap();
    assert!(status.success(), "strace/weir exit: {status:?}");
    let yields = sched_yield_calls(&fs::read_to_string(&counts).unwrap());
    assert!(
        yields < MOST_YIELDS,
        "{yields} sched_yield calls for {REQUESTS} sequential requests (at most {MOST_YIELDS})"
    );
}

/// Reads one response with a Content-Length body: head and body.
fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("a Content-Length");
            if got.len() >= end + 4 + length {
                assert_eq!(got.len(), end + 4 + length, "nothing past the response");
                return got;
            }
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed mid-response: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Sends SIGINT to the process strace runs (its child), so weir stops and strace
/// writes its counts and exits with weir's status.
fn stop_traced(strace: u32) {
    let children = format!("/proc/{strace}/task/{strace}/children");
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        let text = fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = text.split_whitespace().next() {
            break pid.to_string();
        }
        assert!(Instant::now() < deadline, "no traced child of strace");
        std::thread::yield_now();
    };
    let ok = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT {pid}");
}

/// The `calls` column of `strace -c`'s sched_yield row (none: no call).
fn sched_yield_calls(summary: &str) -> u64 {
    summary
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.last() == Some(&"sched_yield"))
        .map(|f| f[3].parse().unwrap())
        .unwrap_or(0)
}
