//! Listening sockets with a chosen backlog, for every backend.
//!
//! The backlog is the kernel's queue of connections whose handshake is done but that
//! weir has not accepted yet. std's `TcpListener::bind` fixes it at 128, and a burst of
//! 2,000 clients overflowed it: the kernel dropped their SYNs, the clients retried
//! after 1, 3 and 7 s, and their requests came after `timeouts.header`. weir also
//! leaves clients in this queue on purpose while it is at `max_connections` or short
//! of descriptors, so its size is a setting (`limits.listen_backlog`). Linux caps it
//! at `net.core.somaxconn` without a word, so [`somaxconn`] lets weir say so.

use std::io;
use std::net::{SocketAddr, TcpListener};

/// A blocking listener on `addr` with `SO_REUSEADDR` (as std sets it) and room for
/// `backlog` connections not yet accepted (the kernel may cap it: [`somaxconn`]).
#[cfg(unix)]
pub fn listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    listener_with(addr, backlog, false)
}

/// As [`listener`], and with `reuse_port` also `SO_REUSEPORT`: several sockets (in
/// several processes of the same user) may bind `addr`, each with its own accept
/// queue, and the kernel hashes new connections across them.
#[cfg(unix)]
pub fn listener_with(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    use rustix::net::{self as sys, AddressFamily, SocketFlags, SocketType};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = sys::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sys::sockopt::set_socket_reuseaddr(&fd, true)?;
    if reuse_port {
        sys::sockopt::set_socket_reuseport(&fd, true)?;
    }
    sys::bind(&fd, &addr)?;
    sys::listen(&fd, i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(TcpListener::from(fd))
}

/// `count` listeners on `addr` sharing it with `SO_REUSEPORT` (the kernel spreads new
/// connections over them). Unless `others_may_join`, a probe socket bound to `addr`
/// without `SO_REUSEPORT` (not listening, so it takes no connection) holds the address
/// meanwhile: a port someone listens on fails here with `EADDRINUSE`, as a plain bind
/// does, nobody else can join the group while it binds, and port 0 becomes the probe's
/// port for every member. Once the group listens, a later plain bind fails against it.
#[cfg(unix)]
pub fn group(
    addr: SocketAddr,
    backlog: u32,
    count: usize,
    others_may_join: bool,
) -> io::Result<Vec<TcpListener>> {
    if count <= 1 {
        return Ok(vec![listener_with(addr, backlog, others_may_join)?]);
    }
    let probe = match others_may_join {
        true => None,
        false => Some(probe(addr)?),
    };
    let mut at = match &probe {
        Some(p) => p.local_addr()?,
        None => addr,
    };
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = listener_with(at, backlog, true)?;
        at = socket.local_addr()?; // port 0: the first member's port for the rest
        sockets.push(socket);
    }
    drop(probe);
    Ok(sockets)
}

/// A socket bound to `addr` with `SO_REUSEADDR` only, not listening (see [`group`]).
#[cfg(unix)]
fn probe(addr: SocketAddr) -> io::Result<TcpListener> {
    use rustix::net::{self as sys, AddressFamily, SocketFlags, SocketType};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = sys::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sys::sockopt::set_socket_reuseaddr(&fd, true)?;
    sys::bind(&fd, &addr)?;
    Ok(TcpListener::from(fd))
}

/// Elsewhere one listener, shared by the threads.
#[cfg(not(unix))]
pub fn group(
    addr: SocketAddr,
    backlog: u32,
    _count: usize,
    others_may_join: bool,
) -> io::Result<Vec<TcpListener>> {
    Ok(vec![listener_with(addr, backlog, others_may_join)?])
}

/// Elsewhere std's listener, whose backlog is 128 whatever is asked.
#[cfg(not(unix))]
pub fn listener(addr: SocketAddr, _backlog: u32) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Elsewhere there is no `SO_REUSEPORT`: asked for, it is refused.
#[cfg(not(unix))]
pub fn listener_with(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    match reuse_port {
        true => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available here",
        )),
        false => listener(addr, backlog),
    }
}

/// The host's cap on a listen backlog (`net.core.somaxconn`), where it can be read.
pub fn somaxconn() -> Option<u32> {
    let text = std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn somaxconn_is_read() {
        assert!(somaxconn().is_some_and(|n| n > 0));
    }
}
