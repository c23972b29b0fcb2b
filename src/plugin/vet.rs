//! Loading a plugin library in a short-lived child process before loading it here.
//!
//! Loading a library runs its code inside weir, and some failures cannot be caught
//! there: a truncated file is mapped and then faults (SIGBUS), a constructor calls
//! `abort()`, an init dereferences NULL or never returns. In a running proxy, on a
//! reload, any of these would take every connection down with it, breaking the promise
//! that a bad config is refused while the old one keeps serving.
//!
//! So before weir loads a library that this process has not loaded yet (at start-up,
//! and on each reload), it runs a checker: a weir binary re-executed in a hidden mode,
//! `weir check-plugin PATH --upstreams N [--config-json JSON]...`, which loads the
//! library, checks its ABI version, calls its init, creates each instance the config
//! asks for (and frees it), and exits. Only a child that exits cleanly lets the parent
//! load the library itself; one that dies is reported with the signal's name and the
//! file, and one still running after `timeouts.plugin_check` is killed and reported.
//! The child says how it ended in its last line; one that exits without saying so was
//! ended by the library's own code (a constructor calling `exit()`), which would have
//! ended weir too, and is refused. A child that met an ordinary refusal (ABI mismatch,
//! init or config refused) says so; the parent then loads the library itself, which
//! did not crash in the child either, to give that refusal its usual message.
//!
//! A key design decision: the checker is opt-in, process-wide. The child must be a
//! weir binary, and `std::env::current_exe()` is weir only in the `weir` command; in a
//! program that embeds weir as a library it is that program, which knows nothing of
//! `check-plugin`. So the `weir` binary turns the check on for itself with
//! [`set_checker`] (on Linux as `/proc/self/exe`, which still runs this very binary
//! after an upgrade has replaced the file on disk). An embedding program may point it
//! at an installed `weir` binary, or answer the hidden mode itself by calling
//! [`child_mode`] first thing in `main`, or leave it off (the default) and load
//! plugins in-process as before.
//!
//! What the check cannot cover: a library replaced in place (truncated or rewritten
//! over the same inode) while this process has it mapped faults in code that is
//! already running. Install a new version as a new file and rename it over the old
//! one; and since a path already loaded is never loaded again (libraries are never
//! unloaded), a new version at the same path needs a restart.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::RwLock;
use std::time::Duration;

use super::{load, FfiMiddleware};

/// The weir binary that checks plugins in a child process; `None`: no check.
static CHECKER: RwLock<Option<PathBuf>> = RwLock::new(None);

/// The hidden subcommand the checker runs.
pub const MODE: &str = "check-plugin";

/// The child's last line when the library loaded and every instance was made.
const LOADED: &str = "weir: check-plugin: loaded";
/// The child's last line when the library or an instance was refused, in words.
const REFUSED: &str = "weir: check-plugin: refused";

/// Turns the child-process check on (with the weir binary to run) or off (`None`).
pub fn set_checker(exe: Option<PathBuf>) {
    *CHECKER.write().unwrap_or_else(|p| p.into_inner()) = exe;
}

/// The checker in force, if any.
pub(crate) fn checker() -> Option<PathBuf> {
    CHECKER.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The hidden mode, for a binary's `main`: when `args` (after the program name) are
/// `check-plugin PATH [--upstreams N] [--config-json JSON]...`, runs the check in this
/// process and returns the exit code to end with; otherwise `None`.
pub fn child_mode(args: impl IntoIterator<Item = OsString>) -> Option<ExitCode> {
    let mut args = args.into_iter();
    if args.next()? != MODE {
        return None;
    }
    let mut configs = Vec::new();
    let mut upstreams = 1;
    let mut parse = || -> Result<PathBuf, String> {
        let path = PathBuf::from(args.next().ok_or("a library path is required")?);
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag:?} needs a value"))?;
            let value = value
                .into_string()
                .map_err(|v| format!("{flag:?}: {v:?} is not UTF-8"))?;
            match flag.to_str() {
                Some("--config-json") => configs.push(value),
                Some("--upstreams") => {
                    upstreams = value
                        .parse()
                        .map_err(|_| format!("--upstreams: {value:?} is not a number"))?;
                }
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        Ok(path)
    };
    let path = match parse() {
        Ok(p) => p,
        Err(usage) => {
            eprintln!("weir: {MODE}: {usage}");
            return Some(ExitCode::from(2));
        }
    };
    Some(match check_here(&path, &configs, upstreams) {
        Ok(()) => {
            eprintln!("{LOADED}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("weir: {why}");
            eprintln!("{REFUSED}");
            ExitCode::FAILURE
        }
    })
}

/// What the child mode does, in the child: load `path`, then make and free one
/// instance per entry of `configs` (JSON) with `upstreams` servers. `Err` is the usual
/// load or config message; a crash or a hang is the parent's to notice.
pub fn check_here(path: &Path, configs: &[String], upstreams: usize) -> Result<(), String> {
    let lib = load(path).map_err(|e| e.to_string())?;
    for (slot, json) in configs.iter().enumerate() {
        let name = lib.name.clone();
        FfiMiddleware::new(lib, name, json, slot, upstreams)
            .map_err(|why| format!("{}: instance refused its config: {why}", path.display()))?;
    }
    Ok(())
}

/// Runs the checker `exe` on `path` with the instances' `configs`; `Err` says why the
/// library must not be loaded into this process.
pub(crate) fn vet(
    exe: &Path,
    path: &Path,
    configs: &[String],
    upstreams: usize,
    timeout: Duration,
) -> Result<(), String> {
    let mut cmd = Command::new(exe);
    cmd.arg(MODE)
        .arg(path)
        .arg("--upstreams")
        .arg(upstreams.to_string());
    for json in configs {
        cmd.arg("--config-json").arg(json);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the plugin check ({}): {e}", exe.display()))?;
    let status = wait(&mut child, timeout).ok_or_else(|| {
        format!(
            "still loading after {} in the check process (a constructor or init that \
             never returns?); not loaded",
            crate::config::duration::show(timeout)
        )
    })?;
    verdict(status.0, &status.1)
}

/// Waits for the child to exit, at most `timeout` (then kills it: `None`). Its stderr
/// is read on a helper thread; the end of that stream is the signal that it exited.
fn wait(child: &mut Child, timeout: Duration) -> Option<(ExitStatus, String)> {
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    match rx.recv_timeout(timeout) {
        Ok(text) => child.wait().ok().map(|s| (s, text)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

fn verdict(status: ExitStatus, stderr: &str) -> Result<(), String> {
    let last = stderr.lines().last().unwrap_or("");
    match (status.code(), last) {
        (Some(0), LOADED) => return Ok(()),
        // An ordinary refusal, which the parent's own load reports as usual.
        (Some(1), REFUSED) => return Ok(()),
        _ => {}
    }
    if let Some(sig) = signal(status) {
        return Err(format!(
            "crashed the check process with {} while loading; not loaded",
            signal_name(sig)
        ));
    }
    match status.code() {
        Some(2) => Err(format!("the plugin check could not run: {last}")),
        Some(code) => Err(format!(
            "ended the check process (exit status {code}) before it finished loading: \
             the library's own code called exit()?; not loaded"
        )),
        None => Err(format!("the plugin check failed ({status}); not loaded")),
    }
}

#[cfg(unix)]
fn signal(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal(_: ExitStatus) -> Option<i32> {
    None
}

/// The conventional name of the signals a faulting library dies of (Linux numbering).
fn signal_name(sig: i32) -> String {
    let name = match sig {
        _ if !cfg!(target_os = "linux") => None,
        4 => Some("SIGILL"),
        5 => Some("SIGTRAP"),
        6 => Some("SIGABRT"),
        7 => Some("SIGBUS"),
        8 => Some("SIGFPE"),
        9 => Some("SIGKILL"),
        11 => Some("SIGSEGV"),
        13 => Some("SIGPIPE"),
        15 => Some("SIGTERM"),
        31 => Some("SIGSYS"),
        _ => None,
    };
    match name {
        Some(n) => format!("{n} (signal {sig})"),
        None => format!("signal {sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named() {
        if cfg!(target_os = "linux") {
            assert_eq!(signal_name(7), "SIGBUS (signal 7)");
            assert_eq!(signal_name(6), "SIGABRT (signal 6)");
        }
        assert_eq!(signal_name(63), "signal 63");
    }
}
