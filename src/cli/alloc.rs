//! mimalloc's settings for a server that should give a burst's memory back.
//!
//! With the `mimalloc` feature (on by default) the binary runs on mimalloc, whose
//! defaults suit a program that stays busy: freed pages are purged a second later, but
//! only when the allocator is next called, so a server that goes quiet after a burst
//! keeps them; and its arena is committed eagerly, which starts weir at 9.9 MiB instead
//! of 4. With
//! `MIMALLOC_PURGE_DELAY=0` and `MIMALLOC_ARENA_EAGER_COMMIT=0`, 8,000 connections took
//! weir from 4.1 to 97 MiB and back to 6.7 ten seconds later (bench/README.md).
//!
//! mimalloc reads its options from the environment once, as the process loads, before
//! `main`; so weir sets them and executes itself again, once (same process id), unless
//! they are already set (by that first run, or by the user, whose choice stands).
//! Setting them through mimalloc's C API instead would take `unsafe`, which weir keeps
//! to the plugin loader.

use std::os::unix::process::CommandExt;
use std::process::Command;

const SETTINGS: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
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
