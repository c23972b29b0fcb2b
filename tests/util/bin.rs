//! Running the real `weir` binary: spawn, find the address it announces, signal it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

/// Runs weir to completion with `args`.
pub fn run(args: &[&str]) -> Output {
    weir().args(args).output().expect("weir runs")
}

/// A running weir process; killed on drop if still alive.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// Lines read from the announcing stream before the address was found.
    pub preamble: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns weir and reads `stream` ("stdout" or "stderr") until a line holding `marker`
/// followed by `http://ADDR` appears.
pub fn spawn(args: &[&str], stream: &str, marker: &str) -> Running {
    let mut cmd = weir();
    cmd.args(args);
    spawn_command(cmd, stream, marker)
}

/// Like [`spawn`], for any program that announces `http://ADDR` the same way.
pub fn spawn_command(mut cmd: Command, stream: &str, marker: &str) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} starts: {e}"));
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
            if let Some(rest) = line.split("http://").nth(1) {
                break rest
                    .trim_end_matches('/')
                    .split([' ', '/'])
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
            }
        }
        preamble.push(line);
    };
    // Keep draining the stream so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running {
        child,
        addr,
        preamble,
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

/// A fresh, empty temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
