//! A real nginx as an origin, on a free loopback port, with its pid, logs and temp
//! files in a test directory. Used where the question is what a real origin makes of
//! the path weir forwards (it decodes `%2F`, matches `location` by string prefix).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::bin::{temp_dir, TempDir};
use super::listening::start_on_free_port;

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
/// `listen`) on a free port of 127.0.0.1 (see [`start_on_free_port`] for the race it
/// avoids).
pub fn start(nginx: &Path, name: &str, server: &str) -> Nginx {
    let dir = temp_dir(&format!("nginx-{name}"));
    let spawn = |addr| {
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, addr, server)).unwrap();
        Command::new(nginx)
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
            .expect("nginx runs")
    };
    let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let (addr, child) = start_on_free_port("nginx", spawn, log);
    Nginx {
        addr,
        child,
        _dir: dir,
    }
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
