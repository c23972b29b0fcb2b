//! nginx as an h2c gRPC origin for tests/grpc_load.rs: every POST is answered as a
//! unary gRPC call (200, `content-type: application/grpc`, one message holding the
//! origin's name, trailer `grpc-status: 0`). Its HTTP/2 GOAWAY is graceful, as grpcio's
//! is not (see grpc_load.rs): after `keepalive_requests` streams on a connection, and
//! on SIGQUIT, it sends GOAWAY with the last stream it took and finishes those.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::bin::{temp_dir, TempDir};
use crate::util::listening::start_on_free_port;

/// A running nginx (master and one worker, so SIGQUIT is a graceful stop); stopped on
/// drop.
pub struct GrpcOrigin {
    pub addr: SocketAddr,
    child: Child,
    dir: TempDir,
}

/// The nginx config: one h2c server answering every path with the reply file.
/// nginx's static module refuses POST, so the path is looked up as a file that does
/// not exist and the 404 becomes the reply (fetched as GET) with status 200.
fn config(dir: &Path, addr: SocketAddr, keepalive_requests: usize) -> String {
    let d = dir.display();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout);
    format!(
        "daemon off;\nworker_processes 1;\nuser {};\npid {d}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         server {{\n    listen {addr} http2;\n    keepalive_requests {keepalive_requests};\n    \
         root {d}/www;\n    \
         location / {{ log_not_found off; error_page 404 =200 /reply; }}\n    \
         location = /reply {{ default_type application/grpc; add_trailer grpc-status 0 always; }}\n  \
         }}\n}}\n",
        user.unwrap().trim()
    )
}

/// A gRPC message as it goes on the wire: uncompressed, 4-byte length, the bytes.
fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

impl GrpcOrigin {
    /// Starts an origin answering `name`, sending GOAWAY after `keepalive_requests`
    /// streams on a connection, on a free port (see [`start_on_free_port`]).
    pub fn start(nginx: &Path, name: &str, keepalive_requests: usize) -> GrpcOrigin {
        let dir = temp_dir(&format!("grpc-origin-{name}"));
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::write(dir.join("www/reply"), grpc_frame(name.as_bytes())).unwrap();
        let spawn = |addr| {
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, config(&dir, addr, keepalive_requests)).unwrap();
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
        // The master holds the listening socket, so it is the process checked.
        let (addr, child) = start_on_free_port("nginx (gRPC origin)", spawn, log);
        GrpcOrigin { addr, child, dir }
    }

    /// SIGQUIT: nginx's graceful stop (GOAWAY on every connection, streams taken are
    /// finished, the listener closes). Returns once nginx has exited.
    pub fn quit(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-QUIT", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "nginx did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The calls it answered, from its access log.
    pub fn served(&self) -> usize {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("\" 200 ")).count()
    }
}

impl Drop for GrpcOrigin {
    /// SIGTERM, so the master takes its worker down with it (a SIGKILLed master leaves
    /// the worker running); SIGKILL if it has not exited within 5 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
