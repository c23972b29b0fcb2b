//! mimalloc's settings for a server that should give a burst's memory back.
//!
//! With the `mimalloc` feature (on by default) the binary runs on mimalloc, whose
//! defaults suit a program that stays busy: its arena is committed eagerly, which starts
//! weir at 9.9 MiB instead of 4, so weir sets `MIMALLOC_ARENA_EAGER_COMMIT=0`.
//!
//! A page that empties is purged (given back with `madvise`) `MIMALLOC_PURGE_DELAY`
//! milliseconds later, checked when the allocator next works on that segment. weir
//! sets 10, the default of the mimalloc it builds (v2; v3's is 1,000), so that a later
//! release of the crate cannot change it silently. It first set 0, to purge at once:
//! then, under load, a page that one batch of requests fills and frees is given back
//! and faulted in again by the next (0.35 minor faults a small HTTP/2 request over
//! TLS, 0.045 at 10 ms), and weir spent 8% more CPU a small HTTP/2 request and 3% a
//! small HTTP/1.1 one. After a burst of 8,000 connections 10 ms leaves about 0.5 MiB
//! more than 0 did, ten seconds later (9.5–10.4 MiB against 9.2–9.5, from a 62–68 MiB
//! peak): what was freed in the last milliseconds before the server went quiet
//! (`bench/README.md`, "Memory after a burst", which has the runs).
//!
//! mimalloc reads its options from the environment once, as the process loads, before
//! `main`; so weir sets them and executes itself again, once (same process id), unless
//! they are already set (by that first run, or by the user, whose choice stands).
//! Setting them through mimalloc's C API instead would take `unsafe`, which weir keeps
//! to the plugin loader.

use std::os::unix::process::CommandExt;
use std::process::Command;

const SETTINGS: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "10"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// Re-executes weir with [`SETTINGS`] in its environment, unless they are there. Returns
/// only if they are, or if the re-execution failed (then weir runs on as it is).
pub fn tune() {
    if SETTINGS.iter().all(|(k, _)| std::env::var_os(k).is_some()) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1));
    for (k, v) in SETTINGS {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    let err = cmd.exec();
    eprintln!("weir: warning: cannot re-execute with mimalloc's settings ({err}); running on without them");
}
