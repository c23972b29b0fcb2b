//! Shared helpers for the wire-level tests: fixture plugins built once per run, origins
//! and a proxy on 127.0.0.1:0, and raw HTTP/1.1 over a plain socket.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;

use weir::backend::{Backend, Mode};
use weir::rt::Runtime;
use weir::{Config, Handle, Proxy};

/// Where the fixture libraries are, once built.
pub struct Plugins {
    pub add_header: PathBuf,
    pub deny: PathBuf,
    pub panic: PathBuf,
    pub ratelimit: PathBuf,
    pub route: PathBuf,
    pub abi_mismatch: PathBuf,
    pub no_symbols: PathBuf,
    pub newer_minor: PathBuf,
    pub v1_0: PathBuf,
    pub init_fails: PathBuf,
    pub bad_descriptor: PathBuf,
    /// A C program printing the header's sizes and offsets.
    pub layout: PathBuf,
}

fn run(cmd: &mut Command) {
    let status = cmd.status().expect("run a build command");
    assert!(status.success(), "{cmd:?} failed");
}

/// Builds every fixture plugin once per test run. A separate target directory keeps
/// the nested cargo off the lock of the `cargo test` that runs us.
pub fn plugins() -> &'static Plugins {
    static BUILT: OnceLock<Plugins> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target").join("plugin-tests");
        run(Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["build", "--release", "--target-dir"])
            .arg(&target)
            .args(["-p", "add-header", "-p", "fixture-panic", "-p", "ratelimit"])
            .args(["-p", "route-header"]));
        run(Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(root.join("plugins/deny-c")));
        run(Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(root.join("plugins/fixtures")));
        let rel = target.join("release");
        Plugins {
            add_header: rel.join("libadd_header.so"),
            deny: root.join("plugins/deny-c/libdeny.so"),
            panic: rel.join("libfixture_panic.so"),
            ratelimit: rel.join("libratelimit.so"),
            route: rel.join("libroute_header.so"),
            abi_mismatch: root.join("plugins/fixtures/libabi_mismatch.so"),
            no_symbols: root.join("plugins/fixtures/libno_symbols.so"),
            newer_minor: root.join("plugins/fixtures/libnewer_minor.so"),
            v1_0: root.join("plugins/fixtures/libv1_0.so"),
            init_fails: root.join("plugins/fixtures/libinit_fails.so"),
            bad_descriptor: root.join("plugins/fixtures/libbad_descriptor.so"),
            layout: root.join("plugins/fixtures/layout"),
        }
    })
}

/// Starts an origin on an ephemeral port; it lives until the test process ends.
pub fn origin(mode: Mode) -> SocketAddr {
    let backend = Backend::bind("127.0.0.1:0".parse().unwrap(), mode).expect("bind origin");
    let addr = backend.local_addr();
    thread::spawn(move || {
        let rt = Runtime::new();
        rt.clone().block_on(1, backend.serve(rt));
    });
    addr
}

/// A running proxy; stopped when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The config for `middleware` (TOML `[[middleware]]` tables) in front of `upstreams`.
pub fn config(middleware: &str, upstreams: &[SocketAddr]) -> Result<Config, weir::ConfigError> {
    let servers: Vec<String> = upstreams.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 2\n[upstream]\nservers = [{}]\n{middleware}",
        servers.join(", ")
    );
    Config::parse(&text, "test.toml")
}

/// Builds and binds a proxy, or returns why it would not start.
pub fn try_proxy(middleware: &str, upstreams: &[SocketAddr]) -> Result<Running, String> {
    let config = config(middleware, upstreams).map_err(|e| e.to_string())?;
    let server = Proxy::new(config)
        .handle_signals(false)
        .bind()
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr();
    let handle = server.handle();
    let thread = thread::spawn(move || server.run().expect("proxy runs"));
    Ok(Running {
        addr,
        handle,
        thread: Some(thread),
    })
}

pub fn proxy(middleware: &str, upstreams: &[SocketAddr]) -> Running {
    try_proxy(middleware, upstreams).unwrap_or_else(|e| panic!("proxy did not start: {e}"))
}

/// A parsed response: status, raw head, body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The first value of header `name` in the response head.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `GET path` with `extra` header lines and `Connection: close`, reads to EOF.
/// Reading to EOF also means the proxy finished the exchange, `on_complete` included.
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect to proxy");
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of request header `name` as the echo origin reports it in the body.
pub fn echoed<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.body.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A keep-alive client: sends `GET path` and reads one Content-Length response.
pub struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client {
            s: TcpStream::connect(addr).expect("connect to proxy"),
            buf: Vec::new(),
        }
    }

    pub fn get(&mut self, path: &str) -> Reply {
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        self.s.write_all(req.as_bytes()).unwrap();
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill();
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let mut r = Reply {
            status: head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            head,
            body: String::new(),
        };
        let len: usize = r
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while self.buf.len() < end + len {
            self.fill();
        }
        r.body = String::from_utf8_lossy(&self.buf[end..end + len]).into_owned();
        self.buf.drain(..end + len);
        r
    }

    /// Sends a last `GET path` with `Connection: close` and reads to EOF: when this
    /// returns, the proxy has finished every exchange on the connection.
    pub fn close(mut self, path: &str) -> u16 {
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        self.s.write_all(req.as_bytes()).unwrap();
        self.s.read_to_end(&mut self.buf).unwrap();
        let head = String::from_utf8_lossy(&self.buf);
        head.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed mid-response");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}
