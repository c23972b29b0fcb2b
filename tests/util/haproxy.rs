//! A real HAProxy as the layer-4 balancer in front of weir (`mode tcp`), on a free
//! loopback port, sending the PROXY header to weir as it does in production.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bin::{temp_dir, TempDir};

/// A running HAProxy; killed on drop.
pub struct Haproxy {
    pub addr: SocketAddr,
    child: Child,
    /// Its config; removed after it is killed.
    _dir: TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The haproxy binary, or `None` when it is not installed. In CI (`CI` set) a missing
/// haproxy is a failure, since `.ci/run` installs it: tests must not pass by skipping.
pub fn binary() -> Option<PathBuf> {
    let found = [
        "/usr/sbin/haproxy",
        "/usr/local/sbin/haproxy",
        "/usr/bin/haproxy",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("haproxy is not installed, and CI is set: .ci/run installs it");
    }
    found
}

/// Starts HAProxy in `mode tcp` on a free port of 127.0.0.1, forwarding to `server`
/// with `options` on its `server` line (`send-proxy-v2`, `send-proxy`). A port found
/// free can be taken before HAProxy binds it, so a failed start is tried again.
pub fn start(haproxy: &std::path::Path, name: &str, server: SocketAddr, options: &str) -> Haproxy {
    let dir = temp_dir(&format!("haproxy-{name}"));
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let conf = dir.join("haproxy.cfg");
        let text = format!(
            "global\n  maxconn 100\n\
             defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend fe\n  bind {addr}\n  default_backend be\n\
             backend be\n  server weir {server} {options}\n"
        );
        std::fs::write(&conf, text).unwrap();
        let mut child = Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy runs");
        if wait_listening(&mut child, addr) {
            return Haproxy {
                addr,
                child,
                _dir: dir,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("haproxy did not start in 10 tries");
}

/// Polls until HAProxy accepts on `addr` (true) or exits (false); 10 s at most.
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return true;
        }
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        std::thread::yield_now();
    }
    false
}
