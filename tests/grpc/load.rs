//! The processes of tests/grpc_load.rs: one `grpcio` server per process (tests/grpc/
//! load.py), so one can be stopped gracefully or killed while the others serve, and a
//! load client whose progress the test follows line by line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The script that plays client and servers.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc/load.py")
}

/// Lines a child prints, read on a thread of their own so the child never blocks.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next line starting with `prefix` within `limit` (the rest of it).
fn next_line(rx: &Receiver<String>, prefix: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match line.strip_prefix(prefix) {
                Some(rest) => return rest.to_string(),
                None => continue,
            },
            Err(RecvTimeoutError::Timeout) => panic!("no {prefix:?} line within {limit:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("exited before a {prefix:?} line"),
        }
    }
}

/// `name=count` pairs, as the script prints them.
fn counts(text: &str) -> BTreeMap<String, usize> {
    text.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

/// One gRPC server process (`load.py server NAME`); killed on drop.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub addr: String,
}

impl Server {
    pub fn start(name: &str) -> Server {
        let mut child = Command::new("python3")
            .arg(script())
            .args(["server", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (with grpcio: .ci/run installs it)");
        let stdin = child.stdin.take();
        let lines = lines_of(&mut child);
        let port = next_line(&lines, "port ", Duration::from_secs(30));
        Server {
            child,
            stdin,
            lines,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    /// Begins a graceful stop (`server.stop(grace)`: GOAWAY, calls in flight finish,
    /// the listener closes) without waiting for it.
    pub fn stop_gracefully(&mut self, grace_seconds: u32) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "stop {grace_seconds}").unwrap();
    }

    /// Waits until the graceful stop has finished.
    pub fn wait_stopped(&mut self) {
        next_line(&self.lines, "stopped", Duration::from_secs(30));
    }

    /// SIGKILL: the connection to weir resets with whatever was in flight on it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Ends the server: the calls it served.
    pub fn finish(mut self) -> usize {
        drop(self.stdin.take());
        next_line(&self.lines, "calls ", Duration::from_secs(30))
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a load client saw.
#[derive(Debug)]
pub struct Outcome {
    pub ok: usize,
    pub failed: usize,
    /// `(code, count, details)` per distinct failure.
    pub failures: Vec<(String, usize, String)>,
    /// Successful calls per server name.
    pub who: BTreeMap<String, usize>,
}

/// A running load client (`load.py client`); killed on drop.
pub struct Load {
    child: Child,
    lines: Receiver<String>,
}

impl Load {
    /// `calls` unary calls to `target` over `channels` connections with `threads`
    /// callers each; bounded to 120 s by `timeout`.
    pub fn start(target: &str, calls: usize, channels: usize, threads: usize) -> Load {
        let mut child = Command::new("timeout")
            .args(["120", "python3"])
            .arg(script())
            .arg("client")
            .arg(target)
            .args([calls, channels, threads].map(|n| n.to_string()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let lines = lines_of(&mut child);
        Load { child, lines }
    }

    /// Waits until at least `n` calls have completed: the replies per server so far.
    pub fn wait_for_calls(&self, n: usize) -> BTreeMap<String, usize> {
        loop {
            let line = next_line(&self.lines, "progress ", Duration::from_secs(60));
            let (done, who) = line.split_once(' ').unwrap_or((&line, ""));
            if done.parse::<usize>().unwrap() >= n {
                return counts(who);
            }
        }
    }

    /// Waits for the client to finish: what it saw.
    pub fn finish(mut self) -> Outcome {
        let done = next_line(&self.lines, "done ", Duration::from_secs(120));
        let totals = counts(&done);
        let mut failures = Vec::new();
        let who = loop {
            let line = next_line(&self.lines, "", Duration::from_secs(10));
            if let Some(rest) = line.strip_prefix("who ") {
                break counts(rest);
            }
            if let Some(rest) = line.strip_prefix("fail ") {
                let mut parts = rest.splitn(3, ' ');
                let code = parts.next().unwrap().to_string();
                let n = parts.next().unwrap().parse().unwrap();
                failures.push((code, n, parts.next().unwrap_or("").to_string()));
            }
        };
        assert!(
            self.child.wait().unwrap().success(),
            "the load client failed"
        );
        Outcome {
            ok: totals["ok"],
            failed: totals["failed"],
            failures,
            who,
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
