//! gRPC through weir with a real client and real servers: Python `grpcio`
//! (tests/grpc/calls.py; .ci/run installs it), h2c listener → h2c group and TLS listener
//! (ALPN h2) → h2c group. Unary, server streaming, client streaming and bidi calls;
//! messages, `grpc-status`, `grpc-message` and custom metadata (headers and trailers)
//! intact; `grpc-timeout` reaching the server; a deadline expiring mid-call; and 300
//! unary calls over one client channel spread over three servers, one call at a time.

mod util;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use util::bin::{temp_dir, TempDir};
use util::tls::Ca;
use weir::Config;

/// The script that plays client and servers.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc/calls.py")
}

/// `calls.py servers n`: n gRPC servers in one Python process, until dropped.
struct Servers {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    ports: Vec<u16>,
}

impl Servers {
    fn start(n: usize) -> Servers {
        let mut child = Command::new("python3")
            .arg(script())
            .args(["servers", &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (with grpcio: .ci/run installs it)");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ports: Vec<u16> = match line.strip_prefix("ports ") {
            Some(ports) => ports
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect(),
            None => panic!("grpc servers did not start (is grpcio installed?): {line:?}"),
        };
        assert_eq!(ports.len(), n);
        Servers {
            child,
            stdin,
            stdout,
            ports,
        }
    }

    fn addrs(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }

    /// Stops the servers: the calls each one served (`s0=.. s1=..`).
    fn stop(mut self) -> String {
        drop(self.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A proxy with an h2c listener and a TLS listener offering h2, both to the h2c group
/// of `servers` (round-robin); the CA file a TLS client trusts and the directory
/// holding it.
fn proxy(name: &str, servers: &[String]) -> (util::TestProxy, PathBuf, TempDir) {
    let dir = temp_dir(name);
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "site", &["grpc.test"]);
    let servers: Vec<String> = servers.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        r#"
listen = [
  {{ addr = "127.0.0.1:0", h2c = true }},
  {{ addr = "127.0.0.1:0", tls = {{ cert = {:?}, key = {:?} }}, h2 = true }},
]
threads = 2
[timeouts]
upstream_read = "30s"
[[middleware]]
builtin = "balancer"
[upstream]
servers = [{}]
protocol = "h2c"
"#,
        leaf.cert,
        leaf.key,
        servers.join(", ")
    );
    let config = Config::parse(&text, "grpc.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    (util::start(config), ca_file, dir)
}

/// Runs `calls.py` with `args` (bounded by `timeout`): its output, asserting success.
fn calls(args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "calls.py {args:?}:\n{text}\n{err}");
    text
}

/// Every check of the client passed, and its 300 calls to `Who` went round-robin.
fn assert_client(text: &str) {
    for check in [
        "ok unary message and deadline",
        "ok initial metadata",
        "ok trailing metadata",
        "ok unary 1 MB message",
        "ok abort status",
        "ok abort trailing metadata",
        "ok server streaming",
        "ok client streaming",
        "ok bidi streaming",
        "ok deadline",
    ] {
        assert!(text.lines().any(|l| l == check), "{check} missing:\n{text}");
    }
    let who = text.lines().find(|l| l.starts_with("who ")).unwrap_or("");
    assert_eq!(who, "who s0=100 s1=100 s2=100", "{text}");
}

#[test]
fn grpc_calls_of_every_kind_pass_through_over_h2c_and_tls() {
    let servers = Servers::start(3);
    let (proxy, ca, _dir) = proxy("grpc-calls", &servers.addrs());
    let h2c = proxy.addrs[0].to_string();
    assert_client(&calls(&["client", &h2c]));
    let tls = format!("127.0.0.1:{}", proxy.addrs[1].port());
    let ca = ca.to_string_lossy().into_owned();
    assert_client(&calls(&["client", &tls, &ca, "grpc.test"]));
    // Each client made 307 calls; every server saw its share of the 300 `Who` calls.
    let served = servers.stop();
    let counts: Vec<usize> = served
        .trim_start_matches("calls ")
        .split_whitespace()
        .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 2 * 307, "{served}");
    assert!(counts.iter().all(|&c| c >= 200), "{served}");
}

/// A bidi call whose client waits for each reply before it sends the next message
/// (ping-pong, 20 rounds) completes over h2c and TLS: weir relays the answers while the
/// request body is still open (full duplex). Sent whole-body-first, the first reply
/// would never come, and the call would end with the client's 30 s deadline.
#[test]
fn a_ping_pong_bidi_call_completes_over_h2c_and_tls() {
    let servers = Servers::start(1);
    let (proxy, ca, _dir) = proxy("grpc-pingpong", &servers.addrs());
    let h2c = proxy.addrs[0].to_string();
    let out = calls(&["pingpong", &h2c]);
    assert!(out.lines().any(|l| l == "ok ping-pong 20"), "{out}");
    let tls = format!("127.0.0.1:{}", proxy.addrs[1].port());
    let ca = ca.to_string_lossy().into_owned();
    let out = calls(&["pingpong", &tls, &ca, "grpc.test"]);
    assert!(out.lines().any(|l| l == "ok ping-pong 20"), "{out}");
}

/// A call past its deadline (0.5 s; the server never answers) ends DEADLINE_EXCEEDED;
/// the server sees its call cancelled (weir resets the upstream stream); and with one
/// stream per upstream connection, the next call goes on the same connection: the slot
/// was freed.
#[test]
fn a_call_past_its_deadline_is_cancelled_upstream_and_frees_its_slot() {
    let servers = Servers::start(1);
    let server = &servers.addrs()[0];
    let text = format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
[timeouts]
upstream_read = "30s"
[upstream]
servers = ["{server}"]
protocol = "h2c"
max_streams_per_connection = 1
"#
    );
    let config = Config::parse(&text, "grpc.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let proxy = util::start(config);
    let out = calls(&["deadline", &proxy.addr.to_string(), server]);
    for check in [
        "ok hang deadline",
        "ok server saw its call cancelled",
        "ok next call on the same upstream connection",
    ] {
        assert!(out.lines().any(|l| l == check), "{check} missing:\n{out}");
    }
}

#[test]
fn weirs_own_failures_reach_the_grpc_client_as_grpc_statuses() {
    let servers = Servers::start(1);
    let live = &servers.addrs()[0];
    let refusing = util::ports::Refusing::new();
    let down = refusing.addr.to_string();
    let log_dir = temp_dir("grpc-failures");
    let log = log_dir.join("access.log");
    let text = format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
[admin]
listen = "127.0.0.1:0"
[[middleware]]
builtin = "log"
config = {{ path = {log:?}, buffer = 0 }}
[timeouts]
upstream_read = "1s"
[limits]
max_body_bytes = 1000
[upstreams.live]
servers = ["{live}"]
protocol = "h2c"
[upstreams.down]
servers = ["{down}"]
protocol = "h2c"
[[routes]]
path = "/weir.Test/"
upstream = "live"
[[routes]]
path = "/down.Test/"
upstream = "down"
"#
    );
    let config = Config::parse(&text, "grpc.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let proxy = util::start(config);
    let target = proxy.addr.to_string();
    let status = |path: &str, size: usize| {
        let out = calls(&["status", &target, path, &size.to_string()]);
        out.trim_end().to_string()
    };
    // Reached through weir, the call works; each of weir's failures has its status.
    assert_eq!(status("/weir.Test/Who", 0), "status OK -");
    assert_eq!(
        status("/other.Service/Call", 0),
        "status UNIMPLEMENTED weir: no route matches"
    );
    let refused = status("/down.Test/Call", 0);
    assert!(
        refused.starts_with("status UNAVAILABLE weir: upstream connect failed"),
        "{refused}"
    );
    // Now the server is down (passive health): no server up, still UNAVAILABLE.
    let none_up = status("/down.Test/Call", 0);
    assert!(
        none_up.starts_with("status UNAVAILABLE weir: "),
        "{none_up}"
    );
    assert_eq!(
        status("/weir.Test/Slow", 0),
        "status DEADLINE_EXCEEDED weir: upstream response timed out"
    );
    assert_eq!(
        status("/weir.Test/Echo", 2000),
        "status RESOURCE_EXHAUSTED weir: request body too large"
    );

    // The metrics count each call by the status its client got, the server's own (OK
    // from the trailers) and weir's alike; the access log shows it beside HTTP's 200.
    let admin = proxy.admin.unwrap();
    for (code, want) in [
        ("OK", 1.0),
        ("UNIMPLEMENTED", 1.0),
        ("UNAVAILABLE", 2.0),
        ("DEADLINE_EXCEEDED", 1.0),
        ("RESOURCE_EXHAUSTED", 1.0),
    ] {
        let series = format!("weir_grpc_calls_total{{code=\"{code}\"}}");
        let text = util::admin::wait_for(admin, &series, want, Duration::from_secs(10));
        assert_eq!(util::admin::value(&text, &series), Some(want), "{series}");
    }
    let lines = log_lines(&log, 6);
    let line = |path: &str| {
        let found = lines.iter().find(|l| l.contains(path));
        found.unwrap_or_else(|| panic!("{path}: {lines:?}")).clone()
    };
    assert!(line("/weir.Test/Who ").ends_with(" grpc=0"), "{lines:?}");
    let unimplemented = line("/other.Service/Call ");
    assert!(unimplemented.contains("\" 200 0 "), "{unimplemented}");
    assert!(unimplemented.ends_with(" grpc=12"), "{unimplemented}");
    assert!(line("/weir.Test/Slow ").ends_with(" grpc=4"), "{lines:?}");
}

/// The access log's lines once it has `n` of them (within 10 s).
fn log_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
