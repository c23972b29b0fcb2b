//! Shared test harness: a real weir proxy on 127.0.0.1:0, real origins, and a raw HTTP
//! client that checks bytes. No mocks: every test speaks HTTP over loopback sockets.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod admin;
pub mod bin;
pub mod browser;
pub mod client;
pub mod dns;
pub mod examples;
pub mod h2;
pub mod h2client;
pub mod h2origin;
pub mod haproxy;
pub mod listening;
pub mod nginx;
pub mod origin;
pub mod plugins;
pub mod ports;
pub mod relay;
pub mod temp;
pub mod tls;
pub mod wait;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use weir::backend::{Backend, Mode};
use weir::config::UpstreamProtocol;
use weir::rt::Runtime;
use weir::{Config, Handle, Middleware, Proxy, Upstream};

/// A weir proxy running in this process on its own threads; stopped on drop.
pub struct TestProxy {
    /// The first listener's address.
    pub addr: SocketAddr,
    /// Every listener's address, in the order of `listen`.
    pub addrs: Vec<SocketAddr>,
    /// The admin listener, when the config has `[admin]`.
    pub admin: Option<SocketAddr>,
    pub handle: Handle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestProxy {
    /// Stops the proxy and waits for `run` to return (the drain included).
    pub fn stop(mut self) -> std::io::Result<()> {
        self.handle.stop();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A plain listener on `127.0.0.1:0` that takes HTTP/2 with prior knowledge (`h2c`).
pub fn h2c_listener() -> weir::config::Listener {
    weir::config::Listener {
        addr: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        name: None,
        h2: false,
        h2c: true,
        proxy_protocol: None,
        reuse_port: false,
    }
}

/// A config on 127.0.0.1:0 over `upstreams`, without access logging (the chain is just
/// the balancer), two executor threads (so cross-thread paths are exercised).
pub fn config(upstreams: &[SocketAddr]) -> Config {
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap().into()],
        threads: 2,
        middleware: vec![weir::config::MiddlewareSpec {
            builtin: Some("balancer".into()),
            ..Default::default()
        }],
        ..Config::default()
    };
    config.upstream.servers = upstreams
        .iter()
        .map(|&addr| Upstream { addr, weight: 1 })
        .collect();
    config
}

/// Starts weir in-process with one h2c listener in front of `origin`, spoken to in
/// `protocol`; `extra` (top-level keys, then tables) goes between the two. The set-up of
/// the frame-level h2 tests, which look at one stream between a client and an origin.
pub fn h2c_proxy(origin: SocketAddr, protocol: UpstreamProtocol, extra: &str) -> TestProxy {
    let text = format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
{extra}
[upstream]
servers = ["{origin}"]
protocol = "{}"
"#,
        protocol.as_str()
    );
    let config = Config::parse(&text, "h2c_proxy.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    start(config)
}

/// Starts weir in-process with `config` and extra middleware.
pub fn start_with(config: Config, extra: Vec<Arc<dyn Middleware>>) -> TestProxy {
    try_start_with(config, extra).expect("proxy starts")
}

/// Starts weir in-process, or says why it cannot start.
pub fn try_start(config: Config) -> Result<TestProxy, weir::StartError> {
    try_start_with(config, Vec::new())
}

/// Starts weir in-process with `config`, which is also what a reload reads again: a
/// reload then re-reads the files it names (certificates, keys, CAs), as SIGHUP would.
pub fn start_reloadable(config: Config) -> TestProxy {
    let source = config.clone();
    let proxy = Proxy::new(config)
        .handle_signals(false)
        .reload_from(move || Ok(source.clone()));
    bind_and_run(proxy).expect("proxy starts")
}

fn try_start_with(
    config: Config,
    extra: Vec<Arc<dyn Middleware>>,
) -> Result<TestProxy, weir::StartError> {
    let mut proxy = Proxy::new(config).handle_signals(false);
    for m in extra {
        proxy = proxy.middleware(ArcMiddleware(m));
    }
    bind_and_run(proxy)
}

/// Binds `proxy` and runs it on a thread of its own.
fn bind_and_run(proxy: Proxy) -> Result<TestProxy, weir::StartError> {
    let server = proxy.bind()?;
    let addr = server.local_addr();
    let addrs = server.local_addrs();
    let admin = server.admin_addr();
    let handle = server.handle();
    let thread = Some(thread::spawn(move || server.run()));
    Ok(TestProxy {
        addr,
        addrs,
        admin,
        handle,
        thread,
    })
}

pub fn start(config: Config) -> TestProxy {
    start_with(config, Vec::new())
}

struct ArcMiddleware(Arc<dyn Middleware>);

impl Middleware for ArcMiddleware {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn on_request(&self, cx: &mut weir::Ctx, req: &mut weir::RequestHead) -> weir::Flow {
        self.0.on_request(cx, req)
    }
    fn select_upstream(
        &self,
        cx: &mut weir::Ctx,
        req: &weir::RequestHead,
        u: &weir::Upstreams,
    ) -> Option<usize> {
        self.0.select_upstream(cx, req, u)
    }
    fn on_response(&self, cx: &mut weir::Ctx, res: &mut weir::ResponseHead) {
        self.0.on_response(cx, res)
    }
    fn on_complete(&self, cx: &weir::Ctx, s: &weir::Summary<'_>) {
        self.0.on_complete(cx, s)
    }
}

/// Starts weir's built-in backend on 127.0.0.1:0 (runs until the test process ends).
pub fn backend(mode: Mode) -> SocketAddr {
    let b = Backend::bind("127.0.0.1:0".parse().unwrap(), mode).expect("backend binds");
    let addr = b.local_addr();
    thread::spawn(move || {
        let rt = Runtime::new();
        rt.clone().block_on(1, b.serve(rt));
    });
    addr
}

/// Three named backends, `backend 1` .. `backend 3`.
pub fn named_backends(n: usize) -> Vec<SocketAddr> {
    (1..=n)
        .map(|i| backend(Mode::Name(format!("backend {i}"))))
        .collect()
}

/// FNV-1a, 64-bit: enough to tell whether megabytes arrived intact and in order.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.update(data);
    h.0
}

pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf29ce484222325)
    }
}

impl Fnv {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so corruption or reordering shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
