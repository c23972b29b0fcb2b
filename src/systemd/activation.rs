//! Socket activation: the listening sockets systemd passes (`sd_listen_fds`).
//!
//! The protocol: when `LISTEN_PID` is this process's id, descriptors 3 up to
//! 3 + `LISTEN_FDS` are listening sockets this process now owns (`LISTEN_FDNAMES` may
//! name them; weir matches by bound address instead, which needs no naming convention
//! between the unit and the config). Any other value of `LISTEN_PID` means the
//! variables were meant for another process (a parent started by systemd), and they
//! are ignored.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};

use listenfd::ListenFd;
use rustix::io::{fcntl_setfd, FdFlags};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`), for messages.
const FIRST: usize = 3;

/// Whether the passed descriptors were taken already (they have one owner).
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The sockets systemd passed, or the process weir upgraded from handed over (see
/// [`crate::upgrade`]), waiting to be matched to `listen` and `[admin]` entries.
#[derive(Default)]
pub struct Inherited {
    sockets: Vec<Socket>,
}

struct Socket {
    /// The address its entry was configured with, when handed over by an upgrade.
    named: Option<SocketAddr>,
    /// The address it is bound to.
    local: SocketAddr,
    listener: TcpListener,
    /// Who passed it, for messages.
    from: &'static str,
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
        let mut sockets = systemd_sockets();
        let upgrade = crate::upgrade::inherit::take().into_iter().map(|p| Socket {
            named: Some(p.named),
            local: p.local,
            listener: p.socket,
            from: "upgrade",
        });
        sockets.extend(upgrade);
        Inherited { sockets }
    }

    /// The passed socket for the entry configured as `addr`: the one handed over for an
    /// entry so configured, else the one bound to `addr` (taken: asked again, it is gone).
    pub fn claim(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        let named = self.sockets.iter().position(|s| s.named == Some(addr));
        let at = named.or_else(|| self.sockets.iter().position(|s| s.local == addr))?;
        Some(self.sockets.remove(at).listener)
    }

    /// Every passed socket for the entry configured as `addr`: the first one
    /// [`Inherited::claim`] gives, and those handed over beside it for the same entry
    /// (an upgrade passes one per thread when the old process had a socket per thread:
    /// same configured address, same bound one; two entries on port 0 differ in the
    /// bound one).
    pub fn claim_all(&mut self, addr: SocketAddr) -> Vec<TcpListener> {
        let Some(first) = self.claim(addr) else {
            return Vec::new();
        };
        let Ok(local) = first.local_addr() else {
            return vec![first];
        };
        let same = |s: &Socket| s.named == Some(addr) && s.local == local;
        let (mine, rest): (Vec<Socket>, Vec<Socket>) = std::mem::take(&mut self.sockets)
            .into_iter()
            .partition(same);
        self.sockets = rest;
        std::iter::once(first)
            .chain(mine.into_iter().map(|s| s.listener))
            .collect()
    }

    /// Closes the passed sockets no entry claimed, each with a warning.
    pub fn close_unclaimed(self) {
        for s in self.sockets {
            let addr = s.local;
            eprintln!(
                "weir: warning: {}: a socket on {addr} was passed that no `listen` entry \
                 names; closed (add `listen = \"{addr}\"` to serve on it)",
                s.from
            );
            drop(s.listener);
        }
    }
}

/// The sockets systemd passed to this process, if any; see [`Inherited::take`].
fn systemd_sockets() -> Vec<Socket> {
    // listenfd skips the LISTEN_PID check when the variable is unset; weir keeps it.
    let mut passed = match for_this_process() {
        true => ListenFd::from_env(),
        false => ListenFd::empty(),
    };
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        if std::env::var_os(var).is_some() {
            std::env::remove_var(var);
        }
    }
    let mut sockets = Vec::new();
    for i in 0..passed.len() {
        match listening(passed.take_tcp_listener(i)) {
            Ok((local, listener)) => sockets.push(Socket {
                named: None,
                local,
                listener,
                from: "socket activation",
            }),
            Err(why) => eprintln!(
                "weir: warning: socket activation: descriptor {} {why}; not used",
                FIRST + i
            ),
        }
    }
    sockets
}

/// A passed descriptor as a listener and its address, made close-on-exec (systemd
/// passes them inheritable) so that the processes weir starts do not hold it.
fn listening(
    taken: std::io::Result<Option<TcpListener>>,
) -> Result<(SocketAddr, TcpListener), String> {
    let listener = match taken {
        Ok(Some(listener)) => listener,
        Ok(None) => return Err("was taken already".into()),
        Err(e) => return Err(format!("is not a TCP listening socket ({e})")),
    };
    fcntl_setfd(&listener, FdFlags::CLOEXEC)
        .map_err(|e| format!("cannot be made close-on-exec: {e}"))?;
    match listener.local_addr() {
        Ok(addr) => Ok((addr, listener)),
        Err(e) => Err(format!("has no local address ({e})")),
    }
}

/// `LISTEN_PID` names this process and `LISTEN_FDS` is a positive count: the variables
/// are meant for weir, not for a parent started by systemd.
fn for_this_process() -> bool {
    let var = |name| std::env::var(name).ok();
    let for_us = var("LISTEN_PID").and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = var("LISTEN_FDS").and_then(|n| n.parse::<u32>().ok());
    for_us && count.is_some_and(|n| n > 0)
}
