//! Signals through async-signal, for the smol-based backends.
//!
//! async-signal's handler writes to a pipe that async-io's reactor watches, on a thread
//! of its own: on the epoll backend that is a second reactor, but one that only wakes
//! when a signal comes, never on the request path. Moving signals onto weir's reactor
//! would take a `signalfd` (every thread must block the signals first, including threads
//! an embedding program starts) or a handler of our own (`unsafe`, which weir keeps to
//! the plugin loader); neither is worth it for four signals.

use std::io;

use futures_lite::StreamExt;

use super::contract::Signal;

/// Signals caught from creation until drop.
pub struct AsyncSignals(async_signal::Signals);

impl AsyncSignals {
    pub(crate) fn new(which: &[Signal]) -> io::Result<AsyncSignals> {
        let native = which.iter().map(|s| match s {
            Signal::Terminate => async_signal::Signal::Term,
            Signal::Interrupt => async_signal::Signal::Int,
            Signal::Hangup => async_signal::Signal::Hup,
            Signal::Upgrade => async_signal::Signal::Usr2,
        });
        async_signal::Signals::new(native).map(AsyncSignals)
    }

    pub(crate) async fn next(&mut self) -> Option<Signal> {
        loop {
            match self.0.next().await? {
                Ok(async_signal::Signal::Term) => return Some(Signal::Terminate),
                Ok(async_signal::Signal::Int) => return Some(Signal::Interrupt),
                Ok(async_signal::Signal::Hup) => return Some(Signal::Hangup),
                Ok(async_signal::Signal::Usr2) => return Some(Signal::Upgrade),
                Ok(_) => continue,
                // The pipe failed: no signal can be read any more.
                Err(_) => return None,
            }
        }
    }
}
