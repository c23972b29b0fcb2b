//! `reuse_port = true` (SO_REUSEPORT): several weir processes bind one address and the
//! kernel spreads new connections across them. Through the real binary, two processes
//! each in front of their own backend, so an answer says which process served it.

mod util;

use std::collections::HashSet;

use util::bin::{run, spawn, write_config, ConfigFile};
use util::client::{get, once};

/// New connections tried before giving up on seeing both processes. The kernel hashes
/// each connection's address pair to one socket, so both are seen after a handful;
/// missing one in 400 tries would mean it never gets any.
const TRIES: usize = 400;

fn config(name: &str, listen: &str, reuse_port: bool, backend: std::net::SocketAddr) -> ConfigFile {
    let text = format!(
        "listen = {{ addr = \"{listen}\", reuse_port = {reuse_port} }}\n\
         [upstream]\nservers = [\"{backend}\"]\n"
    );
    write_config(name, &text)
}

#[test]
fn two_processes_share_a_port_and_both_serve() {
    let backends = util::named_backends(2);
    let first = config("reuse-1", "127.0.0.1:0", true, backends[0]);
    let a = spawn(&["serve", "--config", &first], "stderr", "listening on");
    let port = a.addr.to_string();
    let second = config("reuse-2", &port, true, backends[1]);
    let b = spawn(&["serve", "--config", &second], "stderr", "listening on");
    assert_eq!(a.addr, b.addr);

    let mut seen = HashSet::new();
    for _ in 0..TRIES {
        let resp = once(a.addr, &get("/"));
        assert_eq!(resp.status, 200);
        seen.insert(resp.text());
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        2,
        "only {seen:?} answered in {TRIES} connections"
    );
}

/// A second process without `reuse_port` (a copy started by mistake) is refused the
/// port, whether the first holds one socket or one per thread (`threads` is the
/// default here, one per CPU; `tests/listener_per_thread.rs`). One that sets
/// `reuse_port = true` could join a first process's per-thread sockets, as with nginx's
/// `reuseport` (the kernel lets a user's `SO_REUSEPORT` sockets share a port).
#[test]
fn without_reuse_port_the_second_process_is_refused_the_port() {
    let backends = util::named_backends(1);
    let first = config("noreuse-1", "127.0.0.1:0", false, backends[0]);
    let a = spawn(&["serve", "--config", &first], "stderr", "listening on");
    let second = config("noreuse-2", &a.addr.to_string(), false, backends[0]);
    let out = run(&["serve", "--config", &second]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot listen on {}", a.addr)),
        "{err}"
    );
}
