//! Privileges: weir started as root binds a port below 1024, then serves as `user`; and
//! it refuses to load plugins as root unless `allow_root = true`. These tests need
//! root (the CI machine runs them as root); elsewhere they say so and pass.

mod util;

#[cfg(not(feature = "portable-runtime"))]
use util::bin::spawn;
use util::bin::{assert_refused, run, write_config};
#[cfg(not(feature = "portable-runtime"))]
use util::client::{get, once};
use util::plugins::plugins;
use weir::backend::Mode;

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

#[cfg(not(feature = "portable-runtime"))]
/// A `Uid:` or `Gid:` line of `/proc/PID/status`: real, effective, saved, filesystem.
fn ids(pid: u32, which: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(which)).unwrap();
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Port 80 on a loopback address of this test's own (all of 127/8 is loopback), so
/// that nothing else here holds it.
#[cfg(not(feature = "portable-runtime"))]
fn port_80() -> std::net::SocketAddr {
    let pid = std::process::id();
    std::net::SocketAddr::from(([127, 80, (pid >> 8) as u8, pid as u8], 80))
}

// The portable runtime (async-io) starts its reactor thread when the first socket is
// bound, and ids change per thread: there `user` is refused (the next test).
#[cfg(not(feature = "portable-runtime"))]
#[test]
fn binds_port_80_as_root_then_serves_as_nobody() {
    if !is_root() {
        eprintln!("skipped: needs root to bind port 80 and switch users");
        return;
    }
    let backend = util::backend(Mode::Echo);
    let listen = port_80();
    let text = format!(
        "user = \"nobody\"\nlisten = \"{listen}\"\n[upstream]\nservers = [\"{backend}\"]\n"
    );
    let config = write_config("privileges-drop", &text);
    let weir = spawn(&["serve", "--config", &config], "stderr", "listening on");
    assert_eq!(weir.addr, listen);
    let nobody = vec!["65534".to_string(); 4];
    assert_eq!(
        ids(weir.child.id(), "Uid:"),
        nobody,
        "every uid is nobody's"
    );
    assert_eq!(
        ids(weir.child.id(), "Gid:"),
        nobody,
        "every gid is nobody's"
    );
    // Each executor thread too: ids are switched before any thread starts.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", weir.child.id())).unwrap();
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(uid.split_whitespace().nth(2), Some("65534"), "{uid}");
    }
    assert_eq!(once(listen, &get("/")).status, 200);
}

#[test]
fn plugins_as_root_are_refused_naming_the_keys() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lib = plugins().add_header.display().to_string();
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"127.0.0.1:9\"]\n\
         [[middleware]]\nplugin = \"{lib}\"\nconfig = {{ header = \"X-A\", value = \"1\" }}\n"
    );
    let config = write_config("privileges-plugin-root", &text);
    for cmd in ["check", "serve"] {
        let out = run(&[cmd, "--config", &config]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
        for want in [
            config.as_str(),
            "middleware[0].plugin",
            "run as root",
            "allow_root = true",
            "user =",
        ] {
            assert!(err.contains(want), "{cmd}: wanted {want:?} in {err}");
        }
    }
}

#[cfg(not(feature = "portable-runtime"))]
#[test]
fn plugins_run_once_root_is_dropped() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let backend = util::backend(Mode::Echo);
    let lib = plugins().add_header.display().to_string();
    let text = format!(
        "user = \"nobody\"\nlisten = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{backend}\"]\n\
         [[middleware]]\nplugin = \"{lib}\"\n\
         config = {{ header = \"X-A\", value = \"1\", on = \"response\" }}\n"
    );
    let config = write_config("privileges-plugin-user", &text);
    let weir = spawn(&["serve", "--config", &config], "stderr", "listening on");
    assert_eq!(ids(weir.child.id(), "Uid:")[1], "65534");
    let r = once(weir.addr, &get("/"));
    assert_eq!((r.status, r.header("x-a")), (200, Some("1")));
}

#[test]
fn an_unknown_user_is_refused_naming_the_key() {
    let text = "user = \"no-such-user-weir\"\nlisten = \"127.0.0.1:0\"\n\
                [upstream]\nservers = [\"127.0.0.1:9\"]\n";
    let config = write_config("privileges-unknown", text);
    let want = "no user \"no-such-user-weir\" in /etc/passwd";
    assert_refused("unknown user", &config, want);
}

/// On the portable runtime a second thread runs before ids could change: `user` is
/// refused at start with the reason, never half-applied.
#[cfg(feature = "portable-runtime")]
#[test]
fn the_portable_runtime_refuses_user_with_the_reason() {
    if !is_root() {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let backend = util::backend(Mode::Echo);
    let text = format!(
        "user = \"nobody\"\nlisten = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{backend}\"]\n"
    );
    let config = write_config("privileges-portable", &text);
    let out = run(&["serve", "--config", &config]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(config.as_str()) && err.contains("user:"),
        "{err}"
    );
    assert!(err.contains("threads"), "{err}");
}
