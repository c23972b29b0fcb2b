//! The old process's side: start the new binary, hand it the listening sockets, wait
//! until it says it is ready.
//!
//! Blocking, on a thread of its own (an upgrade is rare, and a blocking wait on a child
//! process has no place on the executor): the caller learns the outcome over a channel.
//! Every failure leaves this process serving; a new process that is still running when
//! the upgrade is given up (not ready within `timeouts.upgrade`, or the handover could
//! not be sent) is killed, so two generations never serve by accident.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::wire::{self, Passed};
use super::SOCKET_VAR;

/// How often the wait looks at the child while nothing else wakes it.
const LOOK: Duration = Duration::from_millis(10);

/// What to start: the binary at the path this process was started from (so a file
/// replaced there since is the one started) with this process's arguments.
#[derive(Clone, Debug)]
pub struct Plan {
    pub exe: PathBuf,
    pub args: Vec<OsString>,
}

/// Starts the new process and hands it `sockets`; its pid once it is ready, else why
/// not (this process then keeps serving).
pub fn run(plan: &Plan, sockets: Vec<Passed>, limit: Duration) -> Result<u32, String> {
    let deadline = Instant::now() + limit;
    let dir = PrivateDir::new().map_err(|e| format!("cannot make a handover socket: {e}"))?;
    let path = dir.0.join("handover.sock");
    let listener = UnixListener::bind(&path)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot make a handover socket at {}: {e}", path.display()))?;
    let mut child = Command::new(&plan.exe)
        .args(&plan.args)
        .env(SOCKET_VAR, &path)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", plan.exe.display()))?;
    let outcome = hand_over(&listener, &mut child, sockets, deadline, limit);
    if outcome.is_err() {
        // Gone already, or given up on: either way this process serves on alone.
        let _ = child.kill();
        let _ = child.wait();
    }
    outcome
}

fn hand_over(
    listener: &UnixListener,
    child: &mut Child,
    sockets: Vec<Passed>,
    deadline: Instant,
    limit: Duration,
) -> Result<u32, String> {
    let stream = connection(listener, child, deadline, limit)?;
    wire::send(&stream, &sockets).map_err(|e| format!("cannot hand the sockets over: {e}"))?;
    drop(sockets); // this process's accept tasks hold their own descriptors
    wait_ready(stream, child, deadline, limit)
}

/// The new process's connection to the handover socket.
fn connection(
    listener: &UnixListener,
    child: &mut Child,
    deadline: Instant,
    limit: Duration,
) -> Result<UnixStream, String> {
    loop {
        match listener.accept() {
            Ok((stream, _)) if is_from(&stream, child.id()) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Ok(_) => {
                eprintln!("weir: upgrade: a process other than the new one connected; ignored")
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("the handover socket failed: {e}")),
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!(
                "the new process exited ({status}) before taking the sockets"
            ));
        }
        if Instant::now() >= deadline {
            return Err(not_ready(limit));
        }
        std::thread::sleep(LOOK);
    }
}

/// Whether the peer of `stream` is process `pid` (where the kernel says so).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn is_from(stream: &UnixStream, pid: u32) -> bool {
    rustix::net::sockopt::socket_peercred(stream)
        .is_ok_and(|c| rustix::process::Pid::as_raw(Some(c.pid)) as u32 == pid)
}

/// Elsewhere the private directory is the guard.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn is_from(_: &UnixStream, _: u32) -> bool {
    true
}

/// Reads the new process's `ready` line; its end of file means it exited first.
fn wait_ready(
    stream: UnixStream,
    child: &mut Child,
    deadline: Instant,
    limit: Duration,
) -> Result<u32, String> {
    let left = deadline.saturating_duration_since(Instant::now()).max(LOOK);
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) if line.trim_end() == "ready" => Ok(child.id()),
        Ok(_) => Err(match exit_status(child) {
            Some(status) => format!("the new process exited ({status}) before it was ready"),
            None => "the new process closed the handover without saying it is ready".into(),
        }),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(not_ready(limit))
        }
        Err(e) => Err(format!("reading from the new process failed: {e}")),
    }
}

/// The child's exit status, given a moment to exit after its socket closed.
fn exit_status(child: &mut Child) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(LOOK);
    }
    None
}

fn not_ready(limit: Duration) -> String {
    format!("the new process was not ready within timeouts.upgrade ({limit:?}); stopped it")
}

/// A directory only this user can enter, for the handover socket; removed on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> io::Result<PrivateDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("weir-upgrade-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(PrivateDir(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
