//! `sd_notify`: a datagram of `KEY=VALUE` lines to the Unix socket in `NOTIFY_SOCKET`
//! (a path, or `@name` in the abstract namespace). systemd waits for `READY=1` before it
//! starts the units ordered after weir and before `systemctl start` returns; with
//! `Type=notify-reload` it sends SIGHUP for `systemctl reload` and waits for
//! `RELOADING=1` ... `READY=1`.
//!
//! A message that cannot be sent is reported once on stderr and never stops weir:
//! readiness is a courtesy to the service manager, serving is the job.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Where to send, read once from `NOTIFY_SOCKET` (and then removed from the environment).
static TARGET: OnceLock<Option<String>> = OnceLock::new();

/// Whether a failed send was reported already.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Reads (and unsets) `NOTIFY_SOCKET`. Called early, before any thread starts, since
/// changing the environment is not safe once other threads may read it.
pub fn init() {
    TARGET.get_or_init(|| {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|t| !t.is_empty());
        std::env::remove_var("NOTIFY_SOCKET");
        target
    });
}

/// `READY=1`: weir listens and serves.
pub fn ready() {
    send("READY=1\nSTATUS=serving");
}

/// `RELOADING=1` with the `MONOTONIC_USEC` systemd needs to match it to its SIGHUP.
pub fn reloading() {
    let usec = monotonic().as_micros();
    send(&format!(
        "RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading"
    ));
}

/// `STOPPING=1`: weir stopped accepting and drains.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=draining");
}

fn send(message: &str) {
    init();
    let Some(Some(target)) = TARGET.get() else {
        return;
    };
    if let Err(e) = send_to(target, message) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!("weir: cannot notify systemd at NOTIFY_SOCKET={target}: {e}");
        }
    }
}

fn send_to(target: &str, message: &str) -> io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    match target.strip_prefix('@') {
        Some(name) => abstract_send(&socket, name, message),
        None => socket.send_to(message.as_bytes(), target),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_send(socket: &UnixDatagram, name: &str, message: &str) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message.as_bytes(), &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_send(_: &UnixDatagram, _: &str, _: &str) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

/// CLOCK_MONOTONIC now, which is what systemd compares `MONOTONIC_USEC` with.
#[cfg(target_os = "linux")]
fn monotonic() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn monotonic() -> Duration {
    Duration::ZERO
}
