//! The serving loop's part: on each SIGUSR2, one upgrade attempt, on a thread of its
//! own; returns once one succeeded, so the server then stops accepting and drains.

use std::time::Duration;

use super::handover::{self, Plan};
use super::outcome;
use super::wire::Passed;
use crate::rt;

/// Upgrades on each signal `watch` catches, one at a time (a signal during an attempt
/// waits for it to end). `sockets` gives the listening sockets to hand over and `limit`
/// the time the new process has to get ready, both as in force at the signal.
pub(crate) async fn upgrade_on_signal(
    mut watch: rt::Caught,
    plan: Plan,
    sockets: impl Fn() -> Vec<Passed>,
    limit: impl Fn() -> Duration,
) {
    loop {
        watch.next().await;
        eprintln!("weir: upgrade: starting {}", plan.exe.display());
        let (done, result) = async_channel::bounded(1);
        let (plan, sockets, limit) = (plan.clone(), sockets(), limit());
        let attempt = std::thread::Builder::new()
            .name("weir-upgrade".into())
            .spawn(move || {
                let _ = done.send_blocking(handover::run(&plan, sockets, limit));
            });
        let outcome = match attempt {
            Ok(_) => result
                .recv()
                .await
                .unwrap_or_else(|_| Err("the attempt panicked".into())),
            Err(e) => Err(format!("cannot start a thread for it: {e}")),
        };
        outcome::record(&outcome);
        match outcome {
            Ok(pid) => {
                eprintln!(
                    "weir: upgrade: new process {pid} is ready; this one stops accepting and drains"
                );
                return;
            }
            Err(why) => eprintln!("weir: upgrade failed: {why}; this process keeps serving"),
        }
    }
}
