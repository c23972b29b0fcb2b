//! The access log's buffering: when lines reach the file, and that none is lost, cut or
//! mixed with another on the way (SIGTERM, SIGHUP, two threads, many clients).

mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use util::bin::{assert_refused, signal, spawn, temp_dir, write_config, Running};
use util::client::{get, once, Conn};
use util::origin::{ok, origin};
use util::wait::WAIT;
use weir::config::MiddlewareSpec;

/// Longer than any test may take: lines that arrive came for another reason.
const NEVER: &str = "1h";

/// Lines of the log at `path` once it holds `n` (or what it holds after `limit`).
fn wait_for_lines(path: &Path, n: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(10)); // the poll's period, not a wait
    }
}

/// A proxy in this process whose chain starts with a log configured by `settings`.
fn in_process(upstream: std::net::SocketAddr, path: &Path, settings: &str) -> util::TestProxy {
    let mut config = util::config(&[upstream]);
    let entry = format!(
        "builtin = \"log\"\nconfig = {{ path = {:?}, {settings} }}\n",
        path.display().to_string()
    );
    let spec: MiddlewareSpec = toml::from_str(&entry).unwrap();
    config.middleware.insert(0, spec);
    util::start(config)
}

/// The weir binary serving a config file whose log is configured by `settings`.
fn binary(name: &str, upstream: std::net::SocketAddr, log: &Path, settings: &str) -> Running {
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 2\n[upstream]\nservers = [\"{upstream}\"]\n\
         [[middleware]]\nbuiltin = \"log\"\nconfig = {{ path = {:?}, {settings} }}\n",
        log.display().to_string()
    );
    let config = write_config(name, &text);
    spawn(&["serve", "--config", &config], "stderr", "listening on").holding(config)
}

/// `n` keep-alive requests, each for its own target `/{tag}/{i}`.
fn requests(addr: std::net::SocketAddr, tag: &str, n: usize) {
    let mut c = Conn::open(addr);
    for i in 0..n {
        assert_eq!(c.roundtrip(&get(&format!("/{tag}/{i}"))).status, 200);
    }
}

#[test]
fn a_line_reaches_the_file_within_the_flush_interval() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("flush-bound");
    let path = dir.join("access.log");
    let proxy = in_process(o.addr, &path, "buffer = \"32k\", flush = \"100ms\"");
    once(proxy.addr, &get("/soon"));
    // Far from full, so only the flusher can have written it (the wait is 100 intervals).
    let lines = wait_for_lines(&path, 1, WAIT);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("\"GET /soon HTTP/1.1\" 200 "),
        "{lines:?}"
    );
    proxy.stop().unwrap();
}

#[test]
fn an_unbuffered_log_writes_each_line_at_once() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("unbuffered");
    let path = dir.join("access.log");
    let settings = format!("buffer = 0, flush = \"{NEVER}\"");
    let proxy = in_process(o.addr, &path, &settings);
    let mut c = Conn::open(proxy.addr);
    for i in 1..=3 {
        c.roundtrip(&get(&format!("/line/{i}")));
        let lines = wait_for_lines(&path, i, WAIT);
        assert_eq!(lines.len(), i, "{lines:?}");
        assert!(lines[i - 1].contains(&format!("/line/{i} ")), "{lines:?}");
    }
    proxy.stop().unwrap();
}

#[test]
fn a_full_buffer_is_written_without_waiting_for_the_interval() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("full-buffer");
    let path = dir.join("access.log");
    let settings = format!("buffer = \"1k\", flush = \"{NEVER}\"");
    let proxy = in_process(o.addr, &path, &settings);
    // One connection, so one thread's buffer: ~150-byte lines fill 1 KiB by the 7th.
    requests(proxy.addr, "fill", 20);
    let lines = wait_for_lines(&path, 6, WAIT);
    assert!(lines.len() >= 6 && lines.len() < 20, "{}", lines.len());
    assert!(lines.iter().all(|l| l.ends_with("upstream_group=default")));
    proxy.stop().unwrap();
    assert_eq!(wait_for_lines(&path, 20, Duration::ZERO).len(), 20);
}

#[test]
fn sigterm_loses_no_buffered_line() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("sigterm-lines");
    let path = dir.join("access.log");
    let settings = format!("buffer = \"1m\", flush = \"{NEVER}\"");
    let mut weir = binary("sigterm-lines", o.addr, &path, &settings);
    let n = 300;
    requests(weir.addr, "term", n);
    assert!(
        wait_for_lines(&path, 1, Duration::ZERO).is_empty(),
        "still buffered"
    );
    signal(&weir.child, "TERM");
    assert!(weir.child.wait().unwrap().success());
    let lines = wait_for_lines(&path, n, Duration::ZERO);
    assert_eq!(lines.len(), n);
    for i in 0..n {
        let target = format!(" /term/{i} ");
        assert!(lines.iter().any(|l| l.contains(&target)), "{target}");
    }
}

#[test]
fn sighup_writes_out_every_buffered_line() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("sighup-lines");
    let path = dir.join("access.log");
    let settings = format!("buffer = \"1m\", flush = \"{NEVER}\"");
    let weir = binary("sighup-lines", o.addr, &path, &settings);
    let n = 300;
    requests(weir.addr, "hup", n);
    assert!(
        wait_for_lines(&path, 1, Duration::ZERO).is_empty(),
        "still buffered"
    );
    signal(&weir.child, "HUP");
    let lines = wait_for_lines(&path, n, Duration::from_secs(10));
    assert_eq!(
        lines.len(),
        n,
        "written at the reload, long before the interval"
    );
    // Still serving, with the reloaded log.
    requests(weir.addr, "after", 1);
}

#[test]
fn lines_from_two_threads_never_interleave() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("interleave");
    let path = dir.join("access.log");
    // Small buffers, so both threads write out often while the other appends.
    let proxy = in_process(o.addr, &path, "buffer = \"2k\", flush = \"10ms\"");
    let (clients, each) = (16, 100);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let addr = proxy.addr;
            std::thread::spawn(move || requests(addr, &format!("c{c}"), each))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    proxy.stop().unwrap();
    let lines = wait_for_lines(&path, clients * each, Duration::ZERO);
    assert_eq!(lines.len(), clients * each);
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        assert!(l.starts_with("127.0.0.1 - - ["), "cut or mixed: {l}");
        assert!(l.ends_with(" route=default upstream_group=default"), "{l}");
        let target = l.split(' ').nth(6).unwrap();
        assert!(seen.insert(target.to_string()), "twice: {target}");
    }
}

#[test]
fn a_bad_buffer_or_flush_is_refused_naming_the_key() {
    for (name, settings, key, why) in [
        (
            "log-buffer-unit",
            "buffer = \"32kb\"",
            "config.buffer",
            "unit must be k or m",
        ),
        (
            "log-buffer-big",
            "buffer = \"65m\"",
            "config.buffer",
            "over the 64m limit",
        ),
        (
            "log-flush-zero",
            "flush = \"0s\"",
            "config.flush",
            "set buffer = 0",
        ),
    ] {
        let text = format!(
            "listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"127.0.0.1:9\"]\n\
             [[middleware]]\nbuiltin = \"log\"\nconfig = {{ {settings} }}\n"
        );
        let path = write_config(name, &text);
        assert_refused(name, &path, &format!("middleware[0].{key}"));
        assert_refused(name, &path, why);
    }
}
