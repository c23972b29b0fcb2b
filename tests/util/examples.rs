//! The lab's std-only examples, compiled once per test run with plain `rustc`.
//!
//! Why not `cargo build --example`: a nested cargo would wait on the lock of the
//! `cargo test` that runs us, or, with its own target directory, rebuild weir and every
//! dependency. These examples use std alone, so rustc builds each in about a second,
//! and a stray `use weir::...` fails the build, which keeps them std-only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::bin::{spawn_command, Running};

pub const LAB: [&str; 3] = ["hello_socket", "socket_proxy", "socket_round_robin"];

/// The rustc next to the cargo running the tests (same toolchain), else the one on PATH.
fn rustc() -> PathBuf {
    let beside = Path::new(env!("CARGO")).with_file_name("rustc");
    if beside.exists() {
        beside
    } else {
        PathBuf::from("rustc")
    }
}

/// Builds the lab examples once per test process; returns the directory holding the
/// binaries. nextest runs each test in a process of its own, so several build at once:
/// each builds in a directory of its own (rustc's intermediate files are named after
/// the crate) and renames its binaries into place, which replaces a file atomically and
/// leaves a binary another test is running untouched.
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = root.join("target").join("lab-examples");
        let scratch = out.join(format!("build-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        for name in LAB {
            let status = Command::new(rustc())
                .args(["--edition", "2021", "-D", "warnings", "-o"])
                .arg(scratch.join(name))
                .arg(root.join("examples").join(format!("{name}.rs")))
                .status()
                .expect("rustc runs");
            assert!(
                status.success(),
                "examples/{name}.rs does not build with std alone"
            );
            std::fs::rename(scratch.join(name), out.join(name)).unwrap();
        }
        let _ = std::fs::remove_dir_all(&scratch);
        out
    })
}

/// Starts lab example `name` with `args` and waits for its `listening on http://ADDR`.
pub fn run(name: &str, args: &[&str]) -> Running {
    let mut cmd = Command::new(built().join(name));
    cmd.args(args);
    spawn_command(cmd, "stdout", "listening on")
}
