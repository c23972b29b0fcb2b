//! Starting a program that must be told its port (nginx, HAProxy, Prometheus, `weir
//! demo` with its stdout unread) without racing the tests that run beside it.
//!
//! The port comes from [`free_port`]: free a moment ago, but a parallel test can bind
//! it before the program does. Then the program exits ("address in use") while a
//! connect to the port still succeeds, answered by the other test. So "it accepts a
//! connection" does not prove the program is up: [`start_on_free_port`] waits until
//! the program's own process holds a socket listening on the port (read from /proc),
//! and starts it again on another port when it exits first.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Child;
use std::time::Duration;

use super::ports::free_port;
use super::wait::poll_until;

/// How long one start may take before the test fails: generous, as nginx or a debug
/// weir starting beside a full test suite on two busy cores can take seconds.
const START: Duration = Duration::from_secs(30);

/// Tries before giving up: each lost race costs one; ten in a row mean a real fault.
const TRIES: usize = 10;

/// Runs `spawn(addr)` on free ports until the child listens on its port itself: the
/// address and the child. `what` names the program in the failure message, which
/// includes `log()` (its error log, stderr...), read after the last failed try.
pub fn start_on_free_port(
    what: &str,
    mut spawn: impl FnMut(SocketAddr) -> Child,
    log: impl Fn() -> String,
) -> (SocketAddr, Child) {
    for _ in 0..TRIES {
        let addr = free_port();
        let mut child = spawn(addr);
        if wait_listening(&mut child, addr) {
            return (addr, child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "{what} did not listen on a free port in {TRIES} tries:\n{}",
        log()
    );
}

/// Polls until `child` listens on `addr` (true) or exits, or [`START`] passes (false).
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let pid = child.id();
    let mut exited = false;
    let up = poll_until(START, || {
        exited = !matches!(child.try_wait(), Ok(None));
        exited || listens(pid, addr)
    });
    up && !exited
}

/// Whether process `pid` holds a TCP socket listening on `addr` (IPv4): the socket's
/// inode from /proc/net/tcp is among the process's open files.
pub fn listens(pid: u32, addr: SocketAddr) -> bool {
    let Some((_, inode)) = tcp_listeners().into_iter().find(|(a, _)| *a == addr) else {
        return false;
    };
    let want = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target.as_os_str() == want.as_str())
}

/// The addresses listened on at `ip`, by any process: how a test learns the port a
/// listener on `ip:0` got when nothing reports it, on an address of 127/8 that no
/// other test uses.
pub fn listening_on(ip: Ipv4Addr) -> Vec<SocketAddr> {
    let on_ip = |(a, _): &(SocketAddr, String)| a.ip() == ip;
    let mut addrs: Vec<SocketAddr> = tcp_listeners()
        .into_iter()
        .filter(on_ip)
        .map(|(a, _)| a)
        .collect();
    // weir with several threads listens on one address once per thread (SO_REUSEPORT).
    addrs.sort();
    addrs.dedup();
    addrs
}

/// Every IPv4 TCP socket in the LISTEN state (0A) from /proc/net/tcp, with its inode.
fn tcp_listeners() -> Vec<(SocketAddr, String)> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(3) != Some(&"0A") {
                return None;
            }
            Some((parse_addr(cols.get(1)?)?, cols.get(9)?.to_string()))
        })
        .collect()
}

/// `0100007F:1F90` as /proc/net/tcp prints it: the address as the in-memory (network
/// order) u32 in hex, then the port.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?.to_ne_bytes();
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::from((ip, port)))
}
