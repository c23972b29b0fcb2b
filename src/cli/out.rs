//! Standard output that a closed pipe does not crash.
//!
//! Rust ignores SIGPIPE, so a write to a pipe nobody reads any more fails with
//! `EPIPE`, and `println!` turns that into a panic: `weir check ... | head -1` died
//! with "failed printing to stdout: Broken pipe" and exit 101. For a command-line tool
//! the reader leaving is a normal end, so after it weir writes nothing more to stdout
//! and the command ends with the status it would have had: `weir check` still exits 1
//! for a bad config (saying why on stderr), a running `weir demo` keeps serving. Any
//! other write error (a full disk) is said once on stderr and makes the command fail.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Set once a write to stdout failed: nothing more is written.
static GONE: AtomicBool = AtomicBool::new(false);
/// Set when that failure was not the reader leaving: the command fails.
static FAILED: AtomicBool = AtomicBool::new(false);

/// `println!` for the CLI: see the module docs.
macro_rules! say {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

/// Writes `text` to stdout unless a write already failed; a failure is noted, not
/// panicked on.
pub fn write(text: fmt::Arguments<'_>) {
    if GONE.load(Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        failed(e);
    }
}

fn failed(e: io::Error) {
    GONE.store(true, Relaxed);
    if e.kind() != io::ErrorKind::BrokenPipe {
        FAILED.store(true, Relaxed);
        eprintln!("weir: cannot write to stdout: {e}");
    }
}

/// The command's exit status, made a failure if stdout failed other than by the
/// reader leaving.
pub fn status(code: ExitCode) -> ExitCode {
    match FAILED.load(Relaxed) {
        true => ExitCode::FAILURE,
        false => code,
    }
}
