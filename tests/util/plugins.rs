//! Fixture plugins, built once per test run, and a proxy configured from a TOML
//! `[[middleware]]` snippet.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use weir::Config;

use super::client::{Conn, Resp};
use super::TestProxy;

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
    pub v1_1: PathBuf,
    /// Copies what ABI 1.2's `original_target` and `path` say into request headers.
    pub v1_2: PathBuf,
    /// Shows what ABI 1.3's `protocol` says in each hook (plugins/fixtures/v1_3.c).
    pub v1_3: PathBuf,
    pub init_fails: PathBuf,
    pub bad_descriptor: PathBuf,
    /// Valid but for one fault each (plugins/fixtures/faults.c).
    pub unresolved: PathBuf,
    pub ctor_abort: PathBuf,
    pub ctor_exit: PathBuf,
    pub init_segv: PathBuf,
    pub init_hang: PathBuf,
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
            v1_1: root.join("plugins/fixtures/libv1_1.so"),
            v1_2: root.join("plugins/fixtures/libv1_2.so"),
            v1_3: root.join("plugins/fixtures/libv1_3.so"),
            init_fails: root.join("plugins/fixtures/libinit_fails.so"),
            bad_descriptor: root.join("plugins/fixtures/libbad_descriptor.so"),
            unresolved: root.join("plugins/fixtures/libunresolved.so"),
            ctor_abort: root.join("plugins/fixtures/libctor_abort.so"),
            ctor_exit: root.join("plugins/fixtures/libctor_exit.so"),
            init_segv: root.join("plugins/fixtures/libinit_segv.so"),
            init_hang: root.join("plugins/fixtures/libinit_hang.so"),
            layout: root.join("plugins/fixtures/layout"),
        }
    })
}

/// Starts an origin on an ephemeral port; it lives until the test process ends.
pub fn config(middleware: &str, upstreams: &[SocketAddr]) -> Result<Config, weir::ConfigError> {
    let servers: Vec<String> = upstreams.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "allow_root = true\nlisten = \"127.0.0.1:0\"\nthreads = 2\n[upstream]\nservers = [{}]\n{middleware}",
        servers.join(", ")
    );
    Config::parse(&text, "test.toml")
}

/// Builds and binds a proxy, or returns why it would not start.
/// A proxy over `upstreams` with `middleware` (TOML) as its chain; `Err` with the
/// start-up message when the chain cannot be built.
pub fn try_proxy(middleware: &str, upstreams: &[SocketAddr]) -> Result<TestProxy, String> {
    let config = config(middleware, upstreams).map_err(|e| e.to_string())?;
    super::try_start(config).map_err(|e| e.to_string())
}

pub fn proxy(middleware: &str, upstreams: &[SocketAddr]) -> TestProxy {
    try_proxy(middleware, upstreams).unwrap_or_else(|e| panic!("proxy did not start: {e}"))
}

/// One GET with `extra` header lines, on its own connection.
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
    Conn::open(addr).roundtrip(req.as_bytes())
}

/// Like [`get`], then waits for weir to close the connection: weir closes only after
/// the exchange is over, `on_complete` included, so its effects are visible next.
pub fn get_done(addr: SocketAddr, path: &str, extra: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
    let mut c = Conn::open(addr);
    let r = c.roundtrip(req.as_bytes());
    assert!(c.is_closed(), "weir closes after Connection: close");
    r
}

/// A header as an echo origin saw it (the echo body holds the forwarded head).
pub fn echoed<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    std::str::from_utf8(&r.body).ok()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
