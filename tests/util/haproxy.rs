//! A real HAProxy as the layer-4 balancer in front of weir (`mode tcp`), on a free
//! loopback port, sending the PROXY header to weir as it does in production.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::bin::{temp_dir, TempDir};
use super::listening::start_on_free_port;

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
/// with `options` on its `server` line (`send-proxy-v2`, `send-proxy`); see
/// [`start_on_free_port`] for the race the port choice avoids.
pub fn start(haproxy: &std::path::Path, name: &str, server: SocketAddr, options: &str) -> Haproxy {
    let dir = temp_dir(&format!("haproxy-{name}"));
    let log = dir.join("stderr.log");
    let spawn = |addr| {
        let conf = dir.join("haproxy.cfg");
        let text = format!(
            "global\n  maxconn 100\n\
             defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend fe\n  bind {addr}\n  default_backend be\n\
             backend be\n  server weir {server} {options}\n"
        );
        std::fs::write(&conf, text).unwrap();
        Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("haproxy runs")
    };
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let (addr, child) = start_on_free_port("haproxy", spawn, read_log);
    Haproxy {
        addr,
        child,
        _dir: dir,
    }
}
