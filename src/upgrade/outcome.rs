//! How an upgrade ended, for `weir upgrade --pid PID`: the old process writes one line to
//! `weir-upgrade-PID.outcome` in the temp directory, `ready NEWPID` or `failed REASON`,
//! and the command waits for that file after sending SIGUSR2.
//!
//! A file rather than a reply on a socket: a signal carries no return address, and the
//! file needs no listener in every weir. It is written as a fresh file (`create_new`,
//! which follows no link) then renamed into place, so a planted link cannot redirect
//! it; the reader trusts it only if its owner is the target process's user and it is
//! newer than the request.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Where process `pid` says how its upgrade ended.
pub fn path(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("weir-upgrade-{pid}.outcome"))
}

/// Writes this process's outcome (logging, never failing, when it cannot).
pub fn record(outcome: &Result<u32, String>) {
    let line = match outcome {
        Ok(pid) => format!("ready {pid}\n"),
        Err(why) => format!("failed {why}\n"),
    };
    if let Err(e) = write(&line) {
        eprintln!(
            "weir: upgrade: cannot write the outcome to {}: {e}",
            path(std::process::id()).display()
        );
    }
}

fn write(line: &str) -> io::Result<()> {
    let pid = std::process::id();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let fresh = std::env::temp_dir().join(format!(".weir-upgrade-{pid}-{nanos}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&fresh)?;
    file.write_all(line.as_bytes())?;
    std::fs::rename(&fresh, path(pid)).inspect_err(|_| {
        let _ = std::fs::remove_file(&fresh);
    })
}

/// Sends SIGUSR2 to `pid` and waits up to `wait` for the outcome: the new process's
/// pid, or why there is none (the old one then still serves, unless it is gone).
pub fn request(pid: u32, wait: Duration) -> Result<u32, String> {
    let file = path(pid);
    let _ = std::fs::remove_file(&file); // a previous upgrade's
    let asked = SystemTime::now() - Duration::from_secs(1);
    let target = rustix::process::Pid::from_raw(pid as i32)
        .ok_or_else(|| format!("{pid} is not a process id"))?;
    rustix::process::kill_process(target, rustix::process::Signal::USR2)
        .map_err(|e| format!("cannot signal process {pid}: {e}"))?;
    let deadline = Instant::now() + wait;
    loop {
        if let Some(line) = read(&file, pid, asked) {
            return parse(&line);
        }
        if rustix::process::test_kill_process(target).is_err() {
            return match read(&file, pid, asked) {
                Some(line) => parse(&line),
                None => Err(format!(
                    "process {pid} exited without saying how the upgrade went"
                )),
            };
        }
        if Instant::now() >= deadline {
            return Err(format!("no outcome from process {pid} within {wait:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The outcome line, if the file is there, new enough and written by `pid`'s user.
fn read(file: &std::path::Path, pid: u32, asked: SystemTime) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(file).ok()?;
    let fresh = meta.modified().is_ok_and(|m| m >= asked);
    let owner = std::fs::metadata(format!("/proc/{pid}")).map_or(meta.uid(), |p| p.uid());
    if !meta.is_file() || !fresh || meta.uid() != owner {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    text.ends_with('\n').then_some(text)
}

fn parse(line: &str) -> Result<u32, String> {
    let line = line.trim_end();
    match line.split_once(' ') {
        Some(("ready", pid)) => pid.parse().map_err(|_| format!("bad outcome {line:?}")),
        Some(("failed", why)) => Err(why.to_string()),
        _ => Err(format!("bad outcome {line:?}")),
    }
}
