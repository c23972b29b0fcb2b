//! Looking for work before sleeping (`spin`): the thread's own sockets, then the sockets
//! and queued tasks of the process's other runtime threads that are not asleep. Such a
//! thread is busy, or waiting for a CPU: on a machine whose CPUs are shared with other
//! processes the scheduler can leave it runnable but unrun for most of a run, and every
//! socket registered with its reactor waits with it (`bench/tail.sh`; bench/profiling.md,
//! "Runtimes at `a431e92`, and the 2-thread tail, round three").

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, Timespec};

use super::super::super::lean_executor;
use super::super::source::wake_guarded;
use super::super::spin;
use super::{lock, Reactor, Turn};

/// What a thread about to sleep found (`Reactor::look_before_sleep`).
pub(super) enum Found {
    /// Events of its own reactor's sockets, in `Turn::events`.
    Events,
    /// Tasks to run: its own future was woken, or another worker has tasks queued.
    Work,
    Nothing,
}

/// The reactors of the process's runtime threads (not the fallback's): what a thread
/// about to sleep looks at besides its own (`Reactor::take_others_events`).
static LISTED: Mutex<Vec<Weak<Reactor>>> = Mutex::new(Vec::new());

/// Lists `reactor` as a runtime thread's until the guard drops.
pub(crate) fn list(reactor: &Arc<Reactor>) -> impl Drop {
    struct Unlist(Weak<Reactor>);
    impl Drop for Unlist {
        fn drop(&mut self) {
            lock(&LISTED).retain(|r| !r.ptr_eq(&self.0) && r.strong_count() > 0);
        }
    }
    let weak = Arc::downgrade(reactor);
    lock(&LISTED).push(weak.clone());
    Unlist(weak)
}

impl Reactor {
    /// What the thread found while it looked for work before sleeping (`spin`): its own
    /// sockets' events; or a wake of its future, which taking another runtime thread's
    /// events can bring; or tasks queued on another worker, to take.
    pub(super) fn look_before_sleep(&self, woken: &AtomicBool, turn: &mut Turn) -> Found {
        let mut found = Found::Nothing;
        spin::before_sleep(|| {
            self.take_ready(turn);
            if turn.events.is_empty() && !woken.load(SeqCst) {
                self.take_others_events(turn);
            }
            found = if !turn.events.is_empty() {
                Found::Events
            } else if woken.load(SeqCst) || lean_executor::others_have_tasks() {
                Found::Work
            } else {
                Found::Nothing
            };
            !matches!(found, Found::Nothing)
        });
        found
    }

    /// Takes the socket events waiting on the other runtime threads' reactors whose
    /// threads are not asleep in `epoll_wait`, and wakes their tasks here. A thread
    /// asleep is woken by its own events and is left alone. Its eventfd and its timers
    /// stay its own.
    pub(in super::super) fn take_others_events(&self, turn: &mut Turn) {
        let mut others = std::mem::take(&mut turn.others);
        others.extend(
            lock(&LISTED)
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|r| !std::ptr::eq(&**r, self) && !r.blocked.load(SeqCst)),
        );
        for other in others.drain(..) {
            other.take_ready(turn);
            other.record_events(&lock(&other.sources), turn, false);
            for waker in turn.wakers.drain(..) {
                wake_guarded(waker);
            }
        }
        turn.others = others;
    }

    /// Takes the events ready on this reactor now, without waiting, into `turn`.
    fn take_ready(&self, turn: &mut Turn) {
        let no_wait = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let _ = epoll::wait(
            &self.epoll,
            spare_capacity(&mut turn.events),
            Some(&no_wait),
        );
    }
}
