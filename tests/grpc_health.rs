//! Active health checks over the gRPC health protocol (`[health] grpc_service`) with
//! real gRPC servers: Python `grpcio` with `grpcio-health-checking`
//! (tests/grpc/health.py; .ci/run installs both). A server whose service turns
//! NOT_SERVING leaves rotation and calls go to the other one; SERVING again brings it
//! back. A service the server does not know counts as down; `""` asks about the
//! server as a whole. An HTTP/1.1 group refuses the key.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use util::admin::{value, wait_for};
use weir::config::{Health, UpstreamProtocol};
use weir::Config;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc/health.py")
}

/// `health.py servers n`: n gRPC servers with the health service, until dropped.
struct Servers {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addrs: Vec<SocketAddr>,
}

impl Servers {
    fn start(n: usize) -> Servers {
        let mut child = Command::new("python3")
            .arg(script())
            .args(["servers", &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (with grpcio-health-checking: .ci/run installs it)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(ports) = line.strip_prefix("ports ") else {
            panic!("servers did not start (grpcio-health-checking installed?): {line:?}");
        };
        let addrs: Vec<SocketAddr> = ports
            .split_whitespace()
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect();
        assert_eq!(addrs.len(), n);
        Servers {
            child,
            stdin,
            stdout,
            addrs,
        }
    }

    /// Sets server `i`'s `service` ("" for the server as a whole) to `status`.
    fn set(&mut self, i: usize, service: &str, status: &str) {
        let service = if service.is_empty() { "-" } else { service };
        writeln!(self.stdin, "set {i} {service} {status}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok");
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An h2c listener and the admin listener to the h2c group of `servers`, checked
/// every 50 ms for `service`, one check to go down or come back.
fn proxy(servers: &[SocketAddr], service: &str) -> util::TestProxy {
    let mut config = util::admin::config(servers);
    config.listen = vec![util::h2c_listener()];
    config.upstream.protocol = UpstreamProtocol::H2c;
    config.upstream.health = Some(Health {
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        fails: 1,
        passes: 1,
        grpc_service: Some(service.into()),
        ..Health::default()
    });
    util::start(config)
}

/// `n` unary calls through weir by a real gRPC client: the servers' names, in order.
fn who(proxy: SocketAddr, n: usize) -> Vec<String> {
    let out = Command::new("timeout")
        .args(["60", "python3"])
        .arg(script())
        .args(["who", &proxy.to_string(), &n.to_string()])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "health.py who:\n{text}\n{err}");
    text.lines().map(str::to_string).collect()
}

fn up(server: SocketAddr) -> String {
    format!("weir_upstream_server_up{{upstream=\"default\",server=\"{server}\"}}")
}

/// Waits until the metric says `server` is up (`1.0`) or down (`0.0`).
fn wait_up(admin: SocketAddr, server: SocketAddr, want: f64) {
    let text = wait_for(admin, &up(server), want, Duration::from_secs(10));
    assert_eq!(value(&text, &up(server)), Some(want), "{server}:\n{text}");
}

#[test]
fn a_not_serving_server_leaves_rotation_and_comes_back_when_serving() {
    let mut servers = Servers::start(2);
    let (s0, s1) = (servers.addrs[0], servers.addrs[1]);
    let proxy = proxy(&servers.addrs, "weir.Test");
    let admin = proxy.admin.unwrap();
    assert_eq!(who(proxy.addr, 4), ["s0", "s1", "s0", "s1"]);

    servers.set(0, "weir.Test", "NOT_SERVING");
    wait_up(admin, s0, 0.0);
    assert_eq!(
        who(proxy.addr, 4),
        ["s1"; 4],
        "calls go to the serving server"
    );
    let api = util::admin::json(admin, "/api/upstreams").to_string();
    assert!(api.contains(r#""checked_up":false"#), "{api}");
    assert!(
        api.contains(r#"grpc.health.v1.Health/Check \"weir.Test\""#),
        "{api}"
    );

    // The server as a whole is still SERVING: only the service asked about counts.
    servers.set(0, "weir.Test", "SERVING");
    wait_up(admin, s0, 1.0);
    let names = who(proxy.addr, 4);
    assert!(names.iter().any(|n| n == "s0"), "{names:?}");
    assert!(names.iter().any(|n| n == "s1"), "{names:?}");
    wait_up(admin, s1, 1.0);
}

#[test]
fn the_empty_service_is_the_servers_overall_health() {
    let mut servers = Servers::start(2);
    let s1 = servers.addrs[1];
    let proxy = proxy(&servers.addrs, "");
    let admin = proxy.admin.unwrap();
    servers.set(1, "", "NOT_SERVING");
    wait_up(admin, s1, 0.0);
    assert_eq!(who(proxy.addr, 3), ["s0"; 3]);
    servers.set(1, "", "SERVING");
    wait_up(admin, s1, 1.0);
}

#[test]
fn a_service_the_server_does_not_know_is_down() {
    // grpcio answers NOT_FOUND for a service it has no status for.
    let servers = Servers::start(1);
    let proxy = proxy(&servers.addrs, "no.Such");
    wait_up(proxy.admin.unwrap(), servers.addrs[0], 0.0);
}

#[test]
fn grpc_service_is_refused_on_an_http1_group() {
    let text = "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nhealth = { grpc_service = \"a.B\" }\n";
    let err = Config::parse(text, "grpc.toml").unwrap_err().to_string();
    assert!(err.contains("grpc.toml"), "{err}");
    assert!(err.contains("upstreams.g.health.grpc_service"), "{err}");
    assert!(err.contains("protocol = \"h2\" or \"h2c\""), "{err}");
    let ok = "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h2c\"\nhealth = { grpc_service = \"\" }\n";
    let c = Config::parse(ok, "grpc.toml").unwrap();
    let h = c.groups[0].health.as_ref().unwrap();
    assert_eq!(h.grpc_service.as_deref(), Some(""));
}
