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
