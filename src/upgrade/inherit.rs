//! The new process's side: take the sockets the old one hands over, and say "ready" once
//! it listens.
//!
//! The old process names its handover socket in `WEIR_UPGRADE_SOCKET`. The new one
//! connects there before it binds anything, receives the listening sockets (see
//! [`super::wire`]) and keeps the connection open; [`ready`] writes `ready` on it once
//! every listener accepts. Exiting before that (a config that fails to load, a port that
//! cannot be bound) closes it, which the old process reads as the failure.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use super::wire::{self, Passed};
use super::SOCKET_VAR;

/// The connection to the old process, until [`ready`] is said on it.
static TO_OLD: Mutex<Option<UnixStream>> = Mutex::new(None);

/// The sockets handed over by the process that started this one, if it was started
/// by an upgrade (none otherwise, or when they cannot be received: then this process
/// binds its own, which fails for a port the old one holds, and the old one keeps
/// serving). Removes the variable from the environment: called once, early, before
/// any thread starts.
pub fn take() -> Vec<Passed> {
    let Some(path) = std::env::var_os(SOCKET_VAR) else {
        return Vec::new();
    };
    std::env::remove_var(SOCKET_VAR);
    let received = UnixStream::connect(&path).and_then(|s| wire::receive(&s).map(|p| (s, p)));
    match received {
        Ok((stream, passed)) => {
            *TO_OLD.lock().unwrap_or_else(|p| p.into_inner()) = Some(stream);
            passed
        }
        Err(e) => {
            eprintln!(
                "weir: upgrade: cannot take the listening sockets from {}: {e}; binding anew",
                path.to_string_lossy()
            );
            Vec::new()
        }
    }
}

/// Tells the old process that this one listens and serves (nothing when this process
/// was not started by an upgrade).
pub fn ready() {
    let Some(mut stream) = TO_OLD.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    if let Err(e) = stream.write_all(b"ready\n") {
        eprintln!("weir: upgrade: cannot tell the old process this one is ready: {e}");
    }
}
