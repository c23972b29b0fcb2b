//! A burst of keep-alive connections against the real binary: the memory it takes goes
//! back to the system once they close. On glibc's malloc weir kept about 80% of a
//! burst's peak for good (8,000 connections: 4 MiB before, 96 during, 69 ten seconds
//! after); the default build runs on mimalloc told to give an emptied page back after
//! 10 ms (`src/cli/alloc.rs`). This checks that property; the figures beside nginx's and
//! HAProxy's are the bench's (`bench/run.sh --scenarios burst`).
#![cfg(all(target_os = "linux", feature = "mimalloc"))]

mod util;

use std::fs;
use std::time::{Duration, Instant};

use util::bin::{spawn, temp_dir, Running};
use util::client::{get, once, Conn};
use weir::backend::Mode;

/// Clients in the burst: enough to take megabytes (about 17 MiB, each held mid-head),
/// few enough for any CI machine (within the usual 4,096 listen backlog).
const CLIENTS: usize = 3000;

/// The anonymous (heap, stacks) resident memory of `pid`, in KiB: the part an allocator
/// can give back, without the binary's own pages.
fn anon_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// weir on one worker thread. Its upstream keep-alive connections idle out after 1 s
/// instead of 60: the burst's memory goes back once all its connections have closed,
/// and the 32 a pool keeps open by default are spread over as many allocator pages,
/// which they hold (up to 2 MiB here, a quarter of what the burst took) until they do.
/// A head may take a minute, not 10 s: the burst holds every client mid-head while a
/// slow machine connects the last of them.
fn weir_on_one_thread() -> Running {
    let up = util::backend(Mode::Name("fine".into()));
    let dir = temp_dir("burst");
    let path = dir.join("weir.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 1\n[upstream]\nservers = [\"{up}\"]\n\
         keepalive_timeout = \"1s\"\n[timeouts]\nheader = \"60s\"\n\
         [[middleware]]\nbuiltin = \"balancer\"\n"
    );
    fs::write(&path, text).unwrap();
    spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    )
    .holding(dir)
}

/// The first half of a request head, and the rest.
const HEAD: (&[u8], &[u8]) = (b"GET / HTTP/1.1\r\nHost: te", b"st\r\n\r\n");

/// `n` clients, each connected with the first half of its request head sent.
fn open_mid_head(addr: std::net::SocketAddr, n: usize) -> Vec<Conn> {
    let mut clients: Vec<Conn> = (0..n).map(|_| Conn::open(addr)).collect();
    for c in &mut clients {
        c.send(HEAD.0);
    }
    clients
}

/// Each client's head completed, then every one answered.
fn finish_heads(clients: &mut [Conn]) {
    for c in clients.iter_mut() {
        c.send(HEAD.1);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c
            .read(false)
            .unwrap_or_else(|| panic!("client {i} got no response"));
        assert_eq!((r.status, r.text().as_str()), (200, "fine\n"), "client {i}");
    }
}

/// `pid`'s anonymous memory once it has stopped growing: the same in five readings in a
/// row, 20 ms apart (weir has read every client's bytes), within 10 s.
fn settled_kib(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut last, mut same) = (anon_kib(pid), 0);
    while same < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // the poll's period
        let now = anon_kib(pid);
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

#[test]
fn a_bursts_memory_goes_back_after_its_connections_close() {
    let limit = weir::rt::raise_fd_limit().expect("open-file limits");
    assert!(limit.soft as usize > CLIENTS + 64, "{limit:?}");
    // The burst must fit in weir's listen backlog (4096 unless the host caps it): with
    // std's 128 the kernel dropped SYNs, clients retried after 1, 3 and 7 s, and their
    // requests came after `timeouts.header` (6 runs in 20 beside two CPU hogs).
    let cap = weir::rt::somaxconn().unwrap_or(u32::MAX) as usize;
    assert!(
        cap > CLIENTS,
        "net.core.somaxconn is {cap}: raise it past {CLIENTS}"
    );
    let weir = weir_on_one_thread();
    let pid = weir.child.id();
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
    let before = anon_kib(pid);

    // Every client sends half its request head: weir holds a read buffer and a
    // request's state for each, the burst's peak. Then all are answered while all are
    // open.
    let mut clients = open_mid_head(weir.addr, CLIENTS);
    let held = settled_kib(pid);
    let took = held.saturating_sub(before);
    assert!(
        took >= 4096,
        "a burst that took no memory proves nothing: {before} -> {held} KiB"
    );
    finish_heads(&mut clients);

    drop(clients);
    // glibc kept all of what a burst took (80% of the peak); mimalloc gives back most
    // of it, once nothing weir keeps pins its pages (the kept lists: http/spare.rs,
    // exchange/kept.rs, open_clients::kept_after_cut). What stays is about 2 to 5 MiB
    // whatever the burst: the slot tables grown for it, and allocator pages a few live
    // blocks hold. Measured on idle connections (about 1 KiB each, 6 MiB in all) that
    // was near half of the burst, and the bound failed now and then beside a build;
    // measured mid-head (a read buffer and a request's state each, ~17 MiB), 70% to
    // 83% was back at the first reading after the close, in 8 runs on the default and
    // portable runtimes, and 56% to 62% in 8 on the tokio runtime (bench/profiling.md,
    // "Flaky tests, round four"). So: at least half back, which glibc always fails.
    let kept_at_most = before + took / 2;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut now = anon_kib(pid);
    while now > kept_at_most && Instant::now() < deadline {
        assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
        std::thread::sleep(Duration::from_millis(100));
        now = anon_kib(pid);
    }
    eprintln!("anonymous RSS: {before} KiB before, {held} with {CLIENTS} clients, {now} after");
    assert!(
        now <= kept_at_most,
        "anonymous RSS {before} KiB before, {held} with {CLIENTS} clients, {now} 20 s after they closed"
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "fine\n");
}
