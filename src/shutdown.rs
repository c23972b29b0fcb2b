//! Graceful shutdown: a one-shot broadcast ("stop now") and a wait group ("all done").
//!
//! Both are closed-channel tricks on `async-channel`: closing a channel wakes every
//! waiter at once, and a channel whose senders are all dropped tells its receiver so.
//! No polling, no counters to race on.

use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::FutureExt;

use crate::rt;

/// The sending half: trigger once, every [`Signal`] clone wakes.
#[derive(Clone)]
pub struct Trigger(Sender<()>);

/// The watching half, cheap to clone into every connection task.
#[derive(Clone)]
pub struct Signal(Receiver<()>);

/// Makes a linked trigger and signal.
pub fn pair() -> (Trigger, Signal) {
    let (tx, rx) = async_channel::bounded(1);
    (Trigger(tx), Signal(rx))
}

impl Trigger {
    pub fn fire(&self) {
        self.0.close();
    }
}

impl Signal {
    /// Resolves once the trigger has fired (at once if it already has).
    pub async fn fired(&self) {
        let _ = self.0.recv().await;
    }

    pub fn is_fired(&self) -> bool {
        self.0.is_closed()
    }

    /// Sleeps for `d`, or less if the trigger fires first; returns whether it fired.
    /// Periodic background tasks (health checks, the pool's reaper) wait with it so a
    /// retired engine's tasks end at once.
    pub async fn fires_within(&self, d: Duration) -> bool {
        let fired = async {
            self.fired().await;
            true
        };
        let slept = async {
            rt::sleep(d).await;
            false
        };
        fired.or(slept).await
    }
}

/// How long a drain keeps an idle keep-alive connection open for its client's next
/// request (answered with `Connection: close`), at most. Closing it at once races a
/// request sent in that instant, which a client that does not retry (wrk, many
/// scripts) sees fail; a client busy enough to be in that race sends within
/// microseconds, one that has idled through the whole grace rarely sends at its end.
/// One second keeps a SIGTERM as prompt as before for people (HAProxy keeps idle
/// connections until `hard-stop-after` with `idle-close-on-response`; nginx closes them
/// at once and has the race).
pub const IDLE_GRACE: Duration = Duration::from_secs(1);

/// The grace for a connection idle for `idled` when the drain began: [`IDLE_GRACE`],
/// never past `timeouts.drain` nor the connection's own `timeouts.idle` deadline.
pub fn idle_grace(drain: Duration, idle: Duration, idled: Duration) -> Duration {
    IDLE_GRACE.min(drain).min(idle.saturating_sub(idled))
}

/// Held by each live connection; when the last one is dropped, [`Drained::wait`] returns.
#[derive(Clone)]
pub struct Busy(#[allow(dead_code, reason = "held only for its drop")] Sender<()>);

/// The waiting side of the wait group.
pub struct Drained(Receiver<()>);

/// Makes a linked wait group: hand out clones of `Busy`, then drop yours and wait.
pub fn wait_group() -> (Busy, Drained) {
    let (tx, rx) = async_channel::bounded(1);
    (Busy(tx), Drained(rx))
}

impl Drained {
    /// Resolves when every `Busy` has been dropped.
    pub async fn wait(&self) {
        let _ = self.0.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_grace_stays_within_the_drain_and_the_idle_deadline() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(idle_grace(s(10), s(60), s(5)), IDLE_GRACE);
        assert_eq!(idle_grace(ms(300), s(60), s(5)), ms(300));
        assert_eq!(idle_grace(s(10), s(60), ms(59_600)), ms(400));
        assert_eq!(idle_grace(s(10), s(60), s(61)), Duration::ZERO);
    }
}
