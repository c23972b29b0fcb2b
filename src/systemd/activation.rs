//! Socket activation: the listening sockets systemd passes (`sd_listen_fds`).
//!
//! The protocol: when `LISTEN_PID` is this process's id, descriptors 3 up to
//! 3 + `LISTEN_FDS` are listening sockets this process now owns (`LISTEN_FDNAMES` may
//! name them; weir matches by bound address instead, which needs no naming convention
//! between the unit and the config). Any other value of `LISTEN_PID` means the
//! variables were meant for another process (a parent started by systemd), and they
//! are ignored.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::io::{fcntl_setfd, FdFlags};
use rustix::net::{sockopt, SocketType};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;

/// Whether the passed descriptors were taken already (they have one owner).
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The sockets systemd passed, waiting to be matched to `listen` entries.
#[derive(Default)]
pub struct Inherited {
    sockets: Vec<(SocketAddr, TcpListener)>,
}

impl Inherited {
    /// Takes the sockets passed to this process (none when it was not socket-activated)
    /// and removes the variables from the environment. Called once, early, before any
    /// thread starts. A passed descriptor that is not a bound TCP socket is closed with
    /// a warning.
    pub fn take() -> Inherited {
        if TAKEN.swap(true, Ordering::SeqCst) {
            return Inherited::default();
        }
        let count = passed_count();
        for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            if std::env::var_os(var).is_some() {
                std::env::remove_var(var);
            }
        }
        let mut sockets = Vec::new();
        for fd in FIRST..FIRST + count {
            match listening(own(fd)) {
                Ok(pair) => sockets.push(pair),
                Err(why) => {
                    eprintln!("weir: warning: socket activation: descriptor {fd} {why}; closed")
                }
            }
        }
        Inherited { sockets }
    }

    /// The passed socket bound to `addr`, if any (taken: asked again, it is gone).
    pub fn claim(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        let at = self.sockets.iter().position(|(a, _)| *a == addr)?;
        Some(self.sockets.swap_remove(at).1)
    }

    /// Closes the passed sockets no `listen` entry claimed, each with a warning.
    pub fn close_unclaimed(self) {
        for (addr, listener) in self.sockets {
            eprintln!(
                "weir: warning: socket activation: systemd passed a socket on {addr} that no \
                 `listen` entry names; closed (add `listen = \"{addr}\"` to serve on it)"
            );
            drop(listener);
        }
    }
}

/// A passed descriptor as a listener and its address, made close-on-exec (systemd
/// passes them inheritable) so that the processes weir starts do not hold it.
fn listening(fd: OwnedFd) -> Result<(SocketAddr, TcpListener), String> {
    match sockopt::socket_type(&fd) {
        Ok(SocketType::STREAM) => {}
        Ok(_) => return Err("is not a stream socket".into()),
        Err(e) => return Err(format!("is not a socket ({e})")),
    }
    fcntl_setfd(&fd, FdFlags::CLOEXEC).map_err(|e| format!("cannot be made close-on-exec: {e}"))?;
    let listener = TcpListener::from(fd);
    match listener.local_addr() {
        Ok(addr) => Ok((addr, listener)),
        Err(e) => Err(format!("is not a TCP socket ({e})")),
    }
}

/// `LISTEN_FDS` when `LISTEN_PID` is this process, else 0.
fn passed_count() -> RawFd {
    let var = |name| std::env::var(name).ok();
    let for_us = var("LISTEN_PID").and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = var("LISTEN_FDS").and_then(|n| n.parse::<RawFd>().ok());
    match (for_us, count) {
        (true, Some(n)) if n > 0 => n,
        _ => 0,
    }
}

/// Takes ownership of descriptor `fd`, one of those systemd passed.
#[allow(
    unsafe_code,
    reason = "the one way to own a descriptor inherited by number"
)]
fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: per the sd_listen_fds protocol, with LISTEN_PID equal to our pid,
    // descriptors 3..3+LISTEN_FDS were opened by systemd for this process and nothing
    // else in it knows them: `take` owns them at most once (TAKEN), at start-up, before
    // weir opens anything itself, so this is their one owner and they are open.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
