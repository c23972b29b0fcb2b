//! An epoll instance per runtime thread, with sockets registered once, edge-triggered.
//!
//! async-io registers each socket one-shot, so every wait for readiness re-arms it with
//! an `epoll_ctl`: on small proxied requests that was a third of weir's system calls
//! (2.4 per request, against HAProxy's 4.2 calls in all). Here a socket is added once;
//! the reactor records readiness as epoll reports it, and a socket clears it only when
//! the kernel says there is nothing more (see `source`). A socket that registered to
//! read is watched for writes only from its first write that has to wait (one
//! `EPOLL_CTL_MOD` in its life): added with `EPOLLOUT`, an idle socket is reported
//! writable at once, a reactor turn for nothing per connection. The fd leaves the epoll
//! set when it is closed, so dropping a socket costs no call either.
//!
//! Each thread in [`super::block_on`] drives its own reactor, and a socket registers with
//! the reactor of the thread that first polls it. Wakers cross threads freely, so a task
//! that moves to another worker is still woken, and a thread about to sleep may take the
//! socket events of another thread's reactor while that thread is busy (`spin`).
//! Sockets and timers first polled outside a runtime thread use a fallback reactor on a
//! thread of its own.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::Waker;
use std::thread;
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, eventfd, EventfdFlags, Timespec};

use super::clock;
use super::source::{wake_guarded, Readiness, Source};
use super::timers::Timers;

mod look;
pub(crate) use look::list;
use look::Found;

/// The event key of the reactor's own eventfd (source keys carry a 31-bit generation in
/// the high half, so they never collide with it).
const NOTIFY: u64 = u64::MAX;
/// Events taken per `epoll_wait`; more simply wait for the next turn.
const EVENTS: usize = 256;
/// The longest single `epoll_wait`.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

pub(crate) struct Reactor {
    epoll: OwnedFd,
    /// Written by another thread to wake the driving thread out of `epoll_wait`.
    notify: OwnedFd,
    /// True while the driving thread sleeps in `epoll_wait`.
    blocked: AtomicBool,
    sources: Mutex<Slab>,
    timers: Mutex<Clock>,
}

/// The reactor's buffers, kept by the driving thread between turns (`epoll_wait` fills
/// the events vector's spare capacity, so it is sized once, here).
pub(crate) struct Turn {
    events: Vec<epoll::Event>,
    wakers: Vec<Waker>,
    /// Whether the thread looks for work a little before it sleeps (`spin`): a runtime
    /// thread's turns do, the fallback reactor's do not.
    spins: bool,
    /// The other runtime threads' reactors, gathered for one look (kept so that a look
    /// allocates nothing).
    others: Vec<Arc<Reactor>>,
}

/// Sources by key: index in the low half, the slot's generation in the high half, so an
/// event queued for a socket that has since closed never reaches the slot's next owner.
#[derive(Default)]
struct Slab {
    slots: Vec<(u32, Option<Arc<Source>>)>,
    free: Vec<usize>,
}

/// The timers (`timers` says how they are kept) and what the driver sleeps until.
struct Clock {
    timers: Timers,
    /// While the driver is blocked: the deadline it sleeps until, in the clock's ticks
    /// (`None`: none).
    sleep_deadline: Option<u64>,
}

/// A socket's place in a reactor; dropping it forgets the socket.
pub(crate) struct Registration {
    reactor: Arc<Reactor>,
    key: u64,
    pub(crate) source: Arc<Source>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Reactor>>> = const { RefCell::new(None) };
}

/// Serves sockets and timers first polled outside a runtime thread.
static FALLBACK: LazyLock<Arc<Reactor>> = LazyLock::new(|| {
    let reactor = Arc::new(Reactor::new().expect("create the fallback epoll reactor"));
    let driven = reactor.clone();
    thread::Builder::new()
        .name("weir-reactor".into())
        .spawn(move || {
            let never = AtomicBool::new(false);
            let mut turn = Turn {
                spins: false,
                ..Turn::new()
            };
            loop {
                driven.turn(&never, &mut turn);
            }
        })
        .expect("spawn the fallback reactor thread");
    reactor
});

/// The reactor of the calling thread's runtime, or the fallback one.
pub(crate) fn current() -> Arc<Reactor> {
    CURRENT
        .with(|c| c.borrow().clone())
        .unwrap_or_else(|| FALLBACK.clone())
}

/// Makes `reactor` the calling thread's until the guard drops.
pub(crate) fn enter(reactor: Arc<Reactor>) -> impl Drop {
    struct Restore(Option<Arc<Reactor>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    Restore(CURRENT.with(|c| c.replace(Some(reactor))))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let notify = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &notify,
            epoll::EventData::new_u64(NOTIFY),
            epoll::EventFlags::IN,
        )?;
        Ok(Reactor {
            epoll,
            notify,
            blocked: AtomicBool::new(false),
            sources: Mutex::default(),
            timers: Mutex::new(Clock {
                timers: Timers::new(),
                sleep_deadline: None,
            }),
        })
    }

    /// Adds `fd`, edge-triggered, for as long as it stays open: for reads, and for
    /// writes too if `writes` (a socket that waits to write, or to connect); otherwise
    /// writes are watched from the first that has to wait ([`Registration::watch_writes`]).
    pub(crate) fn register(
        self: &Arc<Self>,
        fd: impl AsFd,
        writes: bool,
    ) -> io::Result<Registration> {
        let source = Arc::new(match writes {
            true => Source::watching_writes(),
            false => Source::assumed_writable(),
        });
        let key = lock(&self.sources).insert(source.clone());
        let data = epoll::EventData::new_u64(key);
        if let Err(e) = epoll::add(&self.epoll, fd, data, interest(writes)) {
            lock(&self.sources).remove(key);
            return Err(e.into());
        }
        Ok(Registration {
            reactor: self.clone(),
            key,
            source,
        })
    }

    /// Wakes the driving thread if it sleeps in `epoll_wait`.
    pub(crate) fn unblock(&self) {
        if self.blocked.swap(false, SeqCst) {
            let _ = rustix::io::write(&self.notify, &1u64.to_ne_bytes());
        }
    }

    /// Files a timer due at `at` (the clock's ticks), or refreshes its waker; returns
    /// its id.
    pub(crate) fn set_timer(&self, at: u64, id: Option<u64>, waker: &Waker) -> u64 {
        let mut t = lock(&self.timers);
        if let Some(id) = id {
            if t.timers.refresh(id, waker) {
                return id;
            }
        }
        let id = t.timers.insert(at, waker);
        let sooner = self.blocked.load(SeqCst) && t.sleep_deadline.is_none_or(|d| at < d);
        drop(t);
        if sooner {
            self.unblock();
        }
        id
    }

    /// Moves timer `id` to `at` (the clock's ticks); false if it fired or was cancelled.
    pub(crate) fn move_timer(&self, id: u64, at: u64) -> bool {
        let mut t = lock(&self.timers);
        if !t.timers.reschedule(id, at) {
            return false;
        }
        let sooner = self.blocked.load(SeqCst) && t.sleep_deadline.is_none_or(|d| at < d);
        drop(t);
        if sooner {
            self.unblock();
        }
        true
    }

    /// Takes timer `id` off the list (nothing if it fired already).
    pub(crate) fn cancel_timer(&self, id: u64) {
        lock(&self.timers).timers.cancel(id);
    }

    /// Waits for I/O or the next timer, unless `woken` says there is work already, then
    /// wakes whatever became ready. Events are taken even when not blocking, so a busy
    /// executor cannot starve sockets and timers. Returns how many events `epoll_wait`
    /// gave (the eventfd's included): a sign of how far behind its sockets the thread is.
    pub(crate) fn turn(&self, woken: &AtomicBool, turn: &mut Turn) -> usize {
        if turn.spins && !woken.load(SeqCst) {
            match self.look_before_sleep(woken, turn) {
                Found::Events => {
                    let taken = turn.events.len();
                    self.dispatch(turn);
                    return taken;
                }
                Found::Work => {
                    self.dispatch(turn); // no events: the timers due
                    return 0;
                }
                Found::Nothing => {}
            }
        }
        // Capped so the wait fits plain `epoll_pwait`'s milliseconds (kernels before 5.11
        // have no `epoll_pwait2`); waking once an hour for nothing costs nothing.
        let timeout = self.sleep_for(woken).map(|d| {
            let d = d.min(MAX_SLEEP);
            Timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: i64::from(d.subsec_nanos()) as _,
            }
        });
        let waited = epoll::wait(
            &self.epoll,
            spare_capacity(&mut turn.events),
            timeout.as_ref(),
        );
        self.blocked.store(false, SeqCst);
        match waited {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("epoll_wait failed: {e}"),
        }
        let taken = turn.events.len();
        self.dispatch(turn);
        taken
    }

    /// How long this turn may sleep (`None`: until an event). Publishes `blocked` first,
    /// then looks at `woken`, so a wake that lands in between still finds us.
    fn sleep_for(&self, woken: &AtomicBool) -> Option<Duration> {
        let mut t = lock(&self.timers);
        let next = t.timers.next_deadline();
        t.sleep_deadline = next;
        self.blocked.store(true, SeqCst);
        if woken.load(SeqCst) {
            self.blocked.store(false, SeqCst);
            return Some(Duration::ZERO);
        }
        next.map(|at| Duration::from_nanos(at.saturating_sub(clock::ticks())))
    }

    /// Records the events taken and the timers due, then wakes their tasks; each wake is
    /// guarded (`wake_guarded`), so a waker that panics costs its own task, not the
    /// reactor thread and every socket it serves.
    fn dispatch(&self, turn: &mut Turn) {
        self.record_events(&lock(&self.sources), turn, true);
        {
            let now = clock::turn();
            lock(&self.timers).timers.fire(now, &mut turn.wakers);
        }
        for waker in turn.wakers.drain(..) {
            wake_guarded(waker);
        }
    }

    /// Records the events taken as their sources' readiness, gathering the wakers to
    /// call. Only the owner (the thread that drives this reactor) drains the eventfd:
    /// it is level-triggered, so another thread leaves its wake-up for the owner.
    fn record_events(&self, slab: &Slab, turn: &mut Turn, owner: bool) {
        for event in turn.events.drain(..) {
            let (flags, data) = (event.flags, event.data);
            let key = data.u64();
            if key == NOTIFY {
                if owner {
                    let mut count = [0u8; 8];
                    let _ = rustix::io::read(&self.notify, &mut count);
                }
                continue;
            }
            if let Some(source) = slab.get(key) {
                use epoll::EventFlags as F;
                let ready = Readiness {
                    read: flags.intersects(F::IN | F::PRI),
                    write: flags.contains(F::OUT),
                    read_closed: flags.intersects(F::RDHUP | F::HUP | F::ERR),
                    write_closed: flags.intersects(F::HUP | F::ERR),
                };
                source.set_ready(ready, &mut turn.wakers);
            }
        }
    }
}

impl Turn {
    pub(crate) fn new() -> Turn {
        Turn {
            events: Vec::with_capacity(EVENTS),
            wakers: Vec::new(),
            spins: true,
            others: Vec::new(),
        }
    }
}

/// Edge-triggered reads and hang-ups, and writes if asked.
fn interest(writes: bool) -> epoll::EventFlags {
    use epoll::EventFlags as F;
    let reads = F::IN | F::RDHUP | F::ET;
    match writes {
        true => reads | F::OUT,
        false => reads,
    }
}

impl Registration {
    /// Called when a write on the socket `fd` has to wait, with its waker filed: the
    /// first time, epoll starts watching it for writes. `EPOLL_CTL_MOD` reports the
    /// socket at once if it is writable again already, so the writer cannot miss the
    /// edge that came between its EAGAIN and this call.
    pub(crate) fn watch_writes(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        match self.source.watch_writes() {
            true => self.add_writes(fd),
            false => Ok(()),
        }
    }

    /// Asks epoll for the socket's writes: once in its life, at most.
    #[cold]
    fn add_writes(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let data = epoll::EventData::new_u64(self.key);
        Ok(epoll::modify(
            &self.reactor.epoll,
            fd,
            data,
            interest(true),
        )?)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.reactor.sources).remove(self.key);
    }
}

impl Slab {
    fn insert(&mut self, source: Arc<Source>) -> u64 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                crate::slot_growth::reserve_one(&mut self.slots);
                self.slots.push((0, None));
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.1 = Some(source);
        (u64::from(slot.0) << 32) | index as u64
    }

    fn get(&self, key: u64) -> Option<&Arc<Source>> {
        let (generation, index) = ((key >> 32) as u32, (key & 0xffff_ffff) as usize);
        match self.slots.get(index) {
            Some((g, Some(source))) if *g == generation => Some(source),
            _ => None,
        }
    }

    fn remove(&mut self, key: u64) {
        let (generation, index) = ((key >> 32) as u32, (key & 0xffff_ffff) as usize);
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.0 == generation && slot.1.take().is_some() {
                slot.0 = slot.0.wrapping_add(1) & 0x7fff_ffff;
                self.free.push(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_key_never_reaches_the_slots_next_owner() {
        let mut slab = Slab::default();
        let first = slab.insert(Arc::default());
        slab.remove(first);
        let second = slab.insert(Arc::default());
        assert_eq!(
            first & 0xffff_ffff,
            second & 0xffff_ffff,
            "the slot is reused"
        );
        assert!(
            slab.get(first).is_none(),
            "an event for the closed socket was delivered"
        );
        assert!(slab.get(second).is_some());
        slab.remove(first);
        assert!(
            slab.get(second).is_some(),
            "a stale removal freed the new owner"
        );
    }

    #[test]
    fn generations_wrap_within_31_bits() {
        let mut slab = Slab::default();
        slab.slots.push((0x7fff_ffff, None));
        slab.free.push(0);
        let key = slab.insert(Arc::default());
        slab.remove(key);
        assert_eq!(slab.slots[0].0, 0);
        assert_ne!(slab.insert(Arc::default()), NOTIFY);
    }
}
