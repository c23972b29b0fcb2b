//! The host's limits: the open-file limit raised at start-up, and telling a local
//! shortage (descriptors, buffers, memory, ports) from a server's fault.
//!
//! A proxy needs two descriptors per client it serves (the client's socket and the
//! upstream's), and the usual soft limit of 1024 is far below what `max_connections`
//! allows. Raising the soft limit to the hard one at start-up is what Go's runtime does
//! for every program and what nginx's `worker_rlimit_nofile` is set for; it needs no
//! privilege. The numbers come from rustix, which is why this lives in `rt`.

use std::io;

/// The open-file limits in force: `soft` is what counts, `hard` how far it may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit and returns the limits
/// then in force (`None` where they cannot be read: not Linux, or unlimited).
#[cfg(target_os = "linux")]
pub fn raise_fd_limit() -> Option<FdLimit> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let (soft, hard) = (now.current?, now.maximum?);
    if soft < hard {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(FdLimit { soft: hard, hard });
        }
    }
    Some(FdLimit { soft, hard })
}

/// Not Linux: the limit is left as it is and not known.
#[cfg(not(target_os = "linux"))]
pub fn raise_fd_limit() -> Option<FdLimit> {
    None
}

/// What this host ran short of, when `e` says it did: EMFILE, ENFILE, ENOBUFS, ENOMEM
/// or EADDRNOTAVAIL (no free local port). Such an error is no fault of the server
/// being connected to, or of the client being accepted, and must not count against
/// either; the text names it for the log and the error, e.g. `local: too many open files`.
pub fn local_shortage(e: &io::Error) -> Option<&'static str> {
    match e.kind() {
        io::ErrorKind::OutOfMemory => return Some("local: out of memory"),
        io::ErrorKind::AddrNotAvailable => return Some("local: no local address or port free"),
        _ => {}
    }
    shortage_by_errno(e)
}

#[cfg(target_os = "linux")]
fn shortage_by_errno(e: &io::Error) -> Option<&'static str> {
    use rustix::io::Errno;
    match Errno::from_io_error(e)? {
        Errno::MFILE => Some("local: too many open files"),
        Errno::NFILE => Some("local: too many open files in the system"),
        Errno::NOBUFS => Some("local: no buffer space"),
        Errno::NOMEM => Some("local: out of memory"),
        Errno::ADDRNOTAVAIL => Some("local: no local address or port free"),
        _ => None,
    }
}

/// Elsewhere std's error kinds are all there is: descriptor exhaustion is not told
/// apart (std has no stable kind for it yet).
#[cfg(not(target_os = "linux"))]
fn shortage_by_errno(_: &io::Error) -> Option<&'static str> {
    None
}

/// True when `e` is a local shortage ([`local_shortage`]), not the peer's doing.
pub fn is_local_resource_error(e: &io::Error) -> bool {
    local_shortage(e).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn local_shortages_are_named() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(local_shortage(&e(24)), Some("local: too many open files"));
        assert_eq!(
            local_shortage(&e(23)),
            Some("local: too many open files in the system")
        );
        assert_eq!(local_shortage(&e(105)), Some("local: no buffer space"));
        assert_eq!(local_shortage(&e(12)), Some("local: out of memory"));
        assert_eq!(
            local_shortage(&e(99)),
            Some("local: no local address or port free")
        );
        assert!(
            !is_local_resource_error(&e(111)),
            "ECONNREFUSED is the server's"
        );
        assert!(
            !is_local_resource_error(&e(104)),
            "ECONNRESET is the server's"
        );
        assert!(!is_local_resource_error(&io::ErrorKind::TimedOut.into()));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let l = raise_fd_limit().expect("Linux reports the limit");
        assert_eq!(l.soft, l.hard);
    }
}
