//! Running the real `weir` binary: spawn, find the address it announces, signal it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

/// Runs weir to completion with `args`.
pub fn run(args: &[&str]) -> Output {
    weir().args(args).output().expect("weir runs")
}

pub use super::temp::{temp_dir, ConfigFile, TempDir};

/// Writes `text` as `weir.toml` in a fresh temp dir named after `name`; the file's
/// path, which keeps the directory until it is dropped.
pub fn write_config(name: &str, text: &str) -> ConfigFile {
    ConfigFile::write(name, text)
}

/// Both `weir check` and `weir serve` refuse the config at `path` (the case `name`):
/// exit status 1 and a message naming the file and containing `want`.
pub fn assert_refused(name: &str, path: &str, want: &str) {
    for cmd in ["check", "serve"] {
        let out = run(&[cmd, "--config", path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd} {name}: {err}");
        assert!(err.contains(path), "{cmd} {name}: names the file: {err}");
        assert!(err.contains(want), "{cmd} {name}: wanted {want:?} in {err}");
    }
}

/// A running weir process; killed on drop if still alive.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// Lines read from the announcing stream before the address was found.
    pub preamble: Vec<String>,
    /// Lines of the announcing stream after the address, as they arrive.
    pub later: Lines,
    /// Directories the process uses (its config, its logs): removed after it is killed.
    dirs: Vec<TempDir>,
}

impl Running {
    /// Keeps `dir` (or a [`ConfigFile`]'s) until the process is gone: for a helper that
    /// writes the config in a directory of its own and hands back only the process,
    /// which reads the config again on SIGHUP.
    pub fn holding(mut self, dir: impl Into<TempDir>) -> Running {
        self.dirs.push(dir.into());
        self
    }
}

/// Lines a child writes, shared with the thread that reads them.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<LinesSoFar>, Condvar)>);

#[derive(Default)]
struct LinesSoFar {
    lines: Vec<String>,
    closed: bool,
}

impl Lines {
    fn push(&self, line: Option<String>) {
        let (m, cv) = &*self.0;
        let mut s = m.lock().unwrap();
        match line {
            Some(l) => s.lines.push(l),
            None => s.closed = true,
        }
        cv.notify_all();
    }

    /// Every line so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().lines.clone()
    }

    /// Waits until a line holding `text` has arrived (returning it), the stream ends, or
    /// `limit` passes (both `None`): woken by each new line, never polling.
    pub fn wait_for(&self, text: &str, limit: Duration) -> Option<String> {
        let mut found = None;
        self.wait_until(limit, |lines| {
            found = lines.iter().find(|l| l.contains(text)).cloned();
            found.is_some()
        });
        found
    }

    /// Waits until `done(lines so far)` holds (true), the stream ends or `limit` passes
    /// (false), checking again on each new line.
    pub fn wait_until(&self, limit: Duration, mut done: impl FnMut(&[String]) -> bool) -> bool {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + limit;
        let mut s = m.lock().unwrap();
        loop {
            if done(&s.lines) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if s.closed {
                return false;
            }
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Waits until the stream ends (the child exited), at most `limit`.
    pub fn wait_closed(&self, limit: Duration) -> bool {
        let (m, cv) = &*self.0;
        let s = m.lock().unwrap();
        !cv.wait_timeout_while(s, limit, |s| !s.closed)
            .unwrap()
            .1
            .timed_out()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns weir and reads `stream` ("stdout" or "stderr") until a line holding `marker`
/// followed by `http://ADDR` (or `https://ADDR`) appears; that line ends the preamble.
pub fn spawn(args: &[&str], stream: &str, marker: &str) -> Running {
    let mut cmd = weir();
    cmd.args(args);
    spawn_command(cmd, stream, marker)
}

/// [`spawn`] for a command already put together (weir under `prlimit`, an example).
pub fn spawn_command(mut cmd: Command, stream: &str, marker: &str) -> Running {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn_when_not_busy(&mut cmd);
    let out: Box<dyn std::io::Read + Send> = if stream == "stdout" {
        Box::new(child.stdout.take().unwrap())
    } else {
        Box::new(child.stderr.take().unwrap())
    };
    let mut lines = BufReader::new(out).lines();
    let mut preamble = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{cmd:?} exited before announcing; saw {preamble:?}"))
            .unwrap();
        if line.contains(marker) {
            // The first `http://` or `https://` address on the line.
            if let Some(rest) = line.split("://").nth(1).filter(|_| line.contains("http")) {
                preamble.push(line.clone());
                break rest
                    .trim_end_matches('/')
                    .split([' ', '/', ','])
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
            }
        }
        preamble.push(line);
    };
    // Keep draining the stream so the child never blocks on a full pipe.
    let later = Lines::default();
    let sink = later.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.push(Some(line));
        }
        sink.push(None);
    });
    Running {
        child,
        addr,
        preamble,
        later,
        dirs: Vec::new(),
    }
}

/// Sends `sig` (e.g. "TERM", "INT") to the process.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// Starts `cmd`, trying again while its executable is "busy" (ETXTBSY). A test that
/// has just copied the binary can meet this: another test thread forking in the
/// moment the copy's write descriptor was open holds it until that child's exec.
fn spawn_when_not_busy(cmd: &mut Command) -> Child {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            started => return started.unwrap_or_else(|e| panic!("{cmd:?} starts: {e}")),
        }
    }
}
