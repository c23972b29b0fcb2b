//! The `weir` binary as a user meets it: demo, check, config errors, flags, backend.

mod util;

use std::fs;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use util::bin::{assert_refused, run, signal, spawn, temp_dir, weir, write_config};
use util::client::{get, once};
use util::listening::{listens, start_on_free_port};

#[test]
fn demo_rotates_over_three_backends_and_stops_on_ctrl_c() {
    let mut demo = spawn(&["demo", "--listen", "127.0.0.1:0"], "stdout", "proxy");
    let answers: Vec<String> = (0..4).map(|_| once(demo.addr, &get("/")).text()).collect();
    assert_eq!(
        answers,
        ["backend 1\n", "backend 2\n", "backend 3\n", "backend 1\n"]
    );
    assert!(
        demo.preamble.iter().any(|l| l.contains("backend 3")),
        "{:?}",
        demo.preamble
    );
    signal(&demo.child, "INT");
    assert!(demo.child.wait().unwrap().success());
}

#[test]
fn config_errors_name_the_file_the_key_and_the_reason() {
    let cases = [
        ("unknown-key", "lissten = \"127.0.0.1:1\"\n", "unknown field `lissten`"),
        ("bad-duration", "[timeouts]\nheader = \"ten seconds\"\n", "timeouts.header: invalid duration"),
        ("bad-address", "[upstream]\nservers = [\"127.0.0.1:9001\", \"no-port\"]\n", "upstream.servers[1]: invalid address \"no-port\""),
        ("bad-address-line", "[upstream]\nservers = [\n  \"127.0.0.1:9001\",\n  \"no-port\",\n]\n", "(expected host:port) (line 4)"),
        ("bad-listen", "listen = \"localhost\"\n", "listen: invalid address \"localhost\""),
        ("bad-type", "[limits]\nmax_headers = \"many\"\n", "limits.max_headers: invalid type"),
        ("bad-header", "[upstream]\nservers = [\"127.0.0.1:1\"]\n[[middleware]]\nbuiltin = \"headers\"\nconfig = { request = { set = { \"X\" = \"a\\r\\nb\" } } }\n", "middleware[0].config"),
        ("bad-http2", "[upstream]\nservers = [\"127.0.0.1:1\"]\n[http2]\nmax_resets = 0\n", "http2.max_resets: must be at least 1"),
        ("no-servers", "listen = \"127.0.0.1:0\"\n", "upstream.servers: at least one server"),
        ("framing-header", "[upstream]\nservers = [\"127.0.0.1:1\"]\n[[middleware]]\nbuiltin = \"headers\"\nconfig = { request = { set = { \"Content-Length\" = \"5\" } } }\n", "managed by weir"),
    ];
    for (name, text, want) in cases {
        let path = write_config(name, text);
        assert_refused(name, &path, want);
    }
}

#[test]
fn check_prints_a_summary_of_a_valid_config() {
    let path = write_config(
        "valid",
        "listen = \"127.0.0.1:8089\"\n[upstream]\nservers = [\"127.0.0.1:9001\", { addr = \"127.0.0.1:9002\", weight = 2 }]\n",
    );
    let out = run(&["check", "--config", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("127.0.0.1:8089"), "{text}");
    assert!(text.contains("127.0.0.1:9002  weight 2"), "{text}");
    assert!(text.contains("log → balancer"), "{text}");
    assert!(!text.contains("http2"), "no listener serves HTTP/2: {text}");
    let path = write_config(
        "valid-h2",
        "listen = [{ addr = \"127.0.0.1:8089\", h2c = true }]\n[upstream]\nservers = [\"127.0.0.1:9001\"]\n[http2]\nmax_resets = 7\n",
    );
    let out = run(&["check", "--config", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("http2       max_concurrent_streams 100; per 1s: max_resets 7,"),
        "{text}"
    );
}

#[test]
fn plain_weir_with_config_serves_and_flags_override_the_file() {
    let backend = util::named_backends(1)[0];
    // The file says port 1 (unusable); --listen beside --config wins.
    let path = write_config(
        "plain",
        &format!("listen = \"127.0.0.1:1\"\n[upstream]\nservers = [\"{backend}\"]\n"),
    );
    let weir = spawn(
        &["--config", &path, "--listen", "127.0.0.1:0"],
        "stderr",
        "listening on",
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "backend 1\n");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    for args in [
        &["serve", "--bogus"][..],
        &["serve", "--upstream", "nowhere"],
        &["serve", "--threads", "many", "--upstream", "127.0.0.1:1"],
        &["serve"],
        &["frobnicate"],
        &["backend"],
        &[
            "backend",
            "--listen",
            "127.0.0.1:0",
            "--echo",
            "--name",
            "x",
        ],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says what is wrong");
    }
    for sub in ["serve", "check", "backend", "demo"] {
        let out = run(&[sub, "--help"]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("weir {sub}")));
    }
}

#[test]
fn backend_dir_serves_files_and_refuses_traversal() {
    let dir = temp_dir("dir");
    fs::create_dir_all(dir.join("root/sub")).unwrap();
    fs::write(dir.join("root/hello.txt"), "hello file\n").unwrap();
    fs::write(dir.join("secret.txt"), "SECRET").unwrap();
    let root = dir.join("root");
    let backend = spawn(
        &[
            "backend",
            "--listen",
            "127.0.0.1:0",
            "--dir",
            root.to_str().unwrap(),
        ],
        "stderr",
        "listening on",
    );
    let r = once(backend.addr, &get("/hello.txt"));
    assert_eq!((r.status, r.text().as_str()), (200, "hello file\n"));
    assert_eq!(r.header("content-length"), Some("11"));
    let listing = once(backend.addr, &get("/")).text();
    assert!(
        listing.contains("hello.txt") && listing.contains("sub/"),
        "{listing}"
    );
    assert_eq!(once(backend.addr, &get("/missing")).status, 404);
    assert_eq!(once(backend.addr, &get("/sub")).status, 301);
    let head = util::client::Conn::open(backend.addr)
        .roundtrip(b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((head.status, head.body.len()), (200, 0));
    for evil in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/../../secret.txt",
        "/..%5csecret.txt",
    ] {
        let r = once(backend.addr, &get(evil));
        assert!(matches!(r.status, 403 | 404), "{evil}: {}", r.status);
        assert!(!r.text().contains("SECRET"), "{evil} leaked");
    }
}

#[test]
fn backend_echo_shows_the_head_as_received_then_the_body() {
    let backend = spawn(
        &["backend", "--listen", "127.0.0.1:0", "--echo"],
        "stderr",
        "listening on",
    );
    let raw = b"POST /e?x=1 HTTP/1.1\r\nHost: t\r\nX-Odd-Case: A  b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let r = once(backend.addr, raw);
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut want = raw[..head_end].to_vec();
    want.extend_from_slice(b"abcde");
    assert_eq!(r.body, want);
}

#[test]
fn check_shows_each_plugin_with_its_abi_version() {
    let p = util::plugins::plugins();
    let path = write_config(
        "plugins",
        &format!(
            "allow_root = true\n[upstream]\nservers = [\"127.0.0.1:9001\"]\n\
             [[middleware]]\nplugin = \"{}\"\n\
             [[middleware]]\nplugin = \"{}\"\nconfig = {{ header = \"X-A\", value = \"1\" }}\n",
            p.v1_0.display(),
            p.add_header.display()
        ),
    );
    let out = run(&["check", "--config", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // The 1.0 fixture keeps its own version; the SDK-built plugin is the host's.
    for (lib, abi) in [(&p.v1_0, "ABI 1.0"), (&p.add_header, "ABI 1.3")] {
        let line = text
            .lines()
            .find(|l| l.starts_with("plugin") && l.contains(&*lib.display().to_string()))
            .unwrap_or_else(|| panic!("no line for {}:\n{text}", lib.display()));
        assert!(line.contains(&format!("{abi} (weir speaks 1.3)")), "{line}");
    }
}

#[test]
fn an_unknown_balancer_lists_every_balancer_there_is() {
    let out = run(&["serve", "--balancer", "rr", "--upstream", "127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("(expected one of: round-robin, least-conn, p2c, random, hash)"),
        "{err}"
    );
}

#[test]
fn hash_key_flag_makes_the_command_line_hash_balancer_usable() {
    let path = write_config("hash-flag", "[upstream]\nservers = [\"127.0.0.1:9001\"]\n");
    let out = run(&[
        "check",
        "--config",
        &path,
        "--balancer",
        "hash",
        "--hash-key",
        "header:X-User",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("upstream    hash over 1 server(s)"), "{text}");
    assert!(text.contains("hash key    header:X-User"), "{text}");

    let out = run(&["serve", "--hash-key", "nope", "--upstream", "127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--hash-key: invalid hash key \"nope\""),
        "{err}"
    );

    // Served: one key stays on one backend, where round-robin would rotate.
    let b = util::named_backends(3);
    let (b0, b1, b2) = (b[0].to_string(), b[1].to_string(), b[2].to_string());
    let weir = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "-u",
            &b0,
            "-u",
            &b1,
            "-u",
            &b2,
        ]
        .iter()
        .chain(&["--hash-key", "header:X-User"])
        .copied()
        .collect::<Vec<_>>(),
        "stderr",
        "listening on",
    );
    let req = b"GET / HTTP/1.1\r\nHost: t\r\nX-User: ada\r\n\r\n";
    let answers: Vec<String> = (0..4).map(|_| once(weir.addr, req).text()).collect();
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
}

#[test]
fn hash_balancer_mistakes_name_the_flags_typed_not_a_config_key() {
    let up = ["--upstream", "127.0.0.1:1"];
    let path = write_config(
        "hash-no-key",
        "[upstream]\nservers = [\"127.0.0.1:9001\"]\n",
    );
    let cases: [(Vec<&str>, i32, &str); 3] = [
        (
            [&["serve", "--balancer", "hash"][..], &up].concat(),
            2,
            "--balancer hash needs --hash-key KEY: client-ip, path",
        ),
        (
            [&["serve", "-b", "round-robin", "-k", "path"][..], &up].concat(),
            2,
            "--hash-key goes with --balancer hash (alone it implies it), not --balancer round-robin",
        ),
        // The file gives no hash_key either.
        (
            vec!["check", "--config", &path, "--balancer", "hash"],
            1,
            "--balancer: --balancer hash needs --hash-key KEY",
        ),
    ];
    for (args, code, want) in cases {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("upstream.hash_key"), "{args:?}: {err}");
    }
}

#[test]
fn check_help_lists_its_options_like_serve() {
    let out = run(&["check", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for flag in [
        "--config FILE",
        "--listen ADDR",
        "--upstream ADDR",
        "--balancer NAME",
        "--hash-key KEY",
        "--threads N",
        "--help",
    ] {
        assert!(
            text.contains(&format!("{flag} ")),
            "check --help lacks {flag}:\n{text}"
        );
    }
}

#[test]
fn a_plugin_config_error_names_the_toml_key_not_a_json_position() {
    let p = util::plugins::plugins();
    let path = write_config(
        "plugin-config",
        &format!(
            "allow_root = true\n[upstream]\nservers = [\"127.0.0.1:9001\"]\n\
             [[middleware]]\nbuiltin = \"log\"\n\
             [[middleware]]\nplugin = \"{}\"\nconfig = {{ header = \"X-A\", value = 5 }}\n",
            p.add_header.display()
        ),
    );
    let out = run(&["check", "--config", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{path}: middleware[1].config: ")),
        "{err}"
    );
    assert!(
        err.contains("bad config: value: invalid type: integer `5`, expected a string"),
        "{err}"
    );
    assert!(
        !err.contains("column"),
        "no position in JSON the user never wrote: {err}"
    );
}

#[test]
fn demo_routes_sends_hosts_and_paths_to_two_groups() {
    let mut demo = spawn(
        &["demo", "--routes", "--listen", "127.0.0.1:0"],
        "stdout",
        "proxy",
    );
    let host = |h: &str| format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n").into_bytes();
    let site: Vec<String> = (0..3).map(|_| once(demo.addr, &get("/")).text()).collect();
    assert_eq!(site, ["web 1\n", "web 2\n", "web 1\n"]);
    assert!(once(demo.addr, &get("/api/users"))
        .text()
        .starts_with("api "));
    assert!(once(demo.addr, &host("api.localhost"))
        .text()
        .starts_with("api "));
    assert!(once(demo.addr, &get("/x/../api/users"))
        .text()
        .starts_with("api "));
    // The tour prints the config that does it, with the address actually bound.
    let printed = demo
        .later
        .wait_for("[upstreams.api]", std::time::Duration::from_secs(10));
    assert!(printed.is_some(), "{:?}", demo.later.snapshot());
    signal(&demo.child, "INT");
    assert!(demo.child.wait().unwrap().success());
}

/// A stdout whose reader has already gone: every write to it fails with `EPIPE`, as
/// `weir ... | head -1` meets once `head` has its line. A socket pair instead of a pipe
/// (std's pipe is newer than weir's rust-version); the peer is closed before the spawn,
/// so the very first write fails, every time.
fn stdout_nobody_reads() -> Stdio {
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(ours);
    Stdio::from(OwnedFd::from(theirs))
}

fn assert_no_panic(what: &str, stderr: &[u8]) {
    let err = String::from_utf8_lossy(stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what}: {err}"
    );
}

#[test]
fn a_reader_that_leaves_early_ends_each_command_quietly_with_its_own_status() {
    let valid = write_config(
        "closed-stdout",
        "listen = \"127.0.0.1:8089\"\n[upstream]\nservers = [\"127.0.0.1:9001\"]\n",
    );
    let cases: [(&[&str], i32); 7] = [
        (&["check", "--config", &valid], 0),
        (&["--help"], 0),
        (&["--version"], 0),
        (&["check", "--help"], 0),
        (&["backend", "--help"], 0),
        (&["demo", "--help"], 0),
        // A bad config still fails, and says why on stderr.
        (&["check", "--config", "/nonexistent/weir.toml"], 1),
    ];
    for (args, code) in cases {
        let out = weir()
            .args(args)
            .stdout(stdout_nobody_reads())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_no_panic(&format!("{args:?}"), &out.stderr);
    }
}

#[test]
fn demo_keeps_serving_when_nobody_reads_its_stdout() {
    // demo announces its address on stdout, which nobody reads here: give it a port,
    // and know demo is up when its own process listens there (a parallel test may take
    // a port free a moment ago; demo then exits and another port is tried).
    let dir = temp_dir("demo-unread");
    let stderr = dir.join("stderr");
    let spawn = |addr: SocketAddr| {
        weir()
            .args(["demo", "--listen", &addr.to_string()])
            .stdout(stdout_nobody_reads())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap()
    };
    let log = || fs::read_to_string(&stderr).unwrap_or_default();
    let (addr, mut demo) = start_on_free_port("weir demo", spawn, log);
    assert_eq!(once(addr, &get("/")).text(), "backend 1\n");
    assert_eq!(once(addr, &get("/")).text(), "backend 2\n");
    signal(&demo, "INT");
    let status = demo.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_no_panic("demo", log().as_bytes());
}

/// The race CI met, made certain: another test holds demo's port. A connect succeeds
/// (the other test answers), so "it accepts" cannot tell demo is up; demo's own process
/// never listens there, and it exits saying the address is in use.
#[test]
fn demo_on_a_port_another_test_holds_is_not_taken_for_up() {
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = other.local_addr().unwrap();
    let demo = weir()
        .args(["demo", "--listen", &addr.to_string()])
        .stdout(stdout_nobody_reads())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = demo.id();
    let answered = std::net::TcpStream::connect(addr).is_ok();
    assert!(answered, "the other test answers on {addr}");
    assert!(!listens(pid, addr), "demo does not listen on {addr}");
    let out = demo.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use"), "{err}");
    // The test's own process holds it: what `listens` sees for the holder.
    assert!(listens(std::process::id(), addr));
}
