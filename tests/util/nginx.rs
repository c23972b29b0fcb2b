//! A real nginx as an origin, on a free loopback port, with its pid, logs and temp
//! files in a test directory. Used where the question is what a real origin makes of
//! the path weir forwards (it decodes `%2F`, matches `location` by string prefix).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bin::{temp_dir, TempDir};

/// A running nginx; killed on drop.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    /// Its config, pid file and logs; removed after it is killed.
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx binary, or `None` when it is not installed. In CI (`CI` set) a missing
/// nginx is a failure, since `.ci/run` installs it: tests must not pass by skipping.
pub fn binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("nginx is not installed, and CI is set: .ci/run installs nginx-light");
    }
    found
}

/// Starts nginx with `server` (the inside of one `server { }` block, without
/// `listen`) on a free port of 127.0.0.1. A port found free can be taken before nginx
/// binds it, so a failed start is tried again on another port.
pub fn start(nginx: &Path, name: &str, server: &str) -> Nginx {
    let dir = temp_dir(&format!("nginx-{name}"));
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, addr, server)).unwrap();
        let mut child = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs");
        if wait_listening(&mut child, addr) {
            return Nginx {
                addr,
                child,
                _dir: dir,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start in 10 tries:\n{log}");
}

/// Polls until nginx accepts on `addr` (true) or exits (false); 10 s at most.
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return true;
        }
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn config(dir: &Path, addr: SocketAddr, server: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         server {{\n    listen {addr};\n{server}\n  }}\n}}\n"
    )
}
