//! Where access-log lines go: a buffer per worker thread, written out whole.
//!
//! A line written with one `write(2)` each costs a system call per request, and under
//! a lock shared by every thread; that was a fifth of small-response throughput. So, as
//! nginx's `access_log ... buffer=32k flush=1s` does, each thread appends its lines to a
//! buffer of its own and the buffer is written out when it holds `capacity` bytes, at
//! the latest `flush` after it was last written (a flusher thread per log sweeps every
//! buffer each `flush`, so a thread that has gone idle cannot sit on its lines), at a
//! reload ([`flush_all`]), at shutdown ([`flush_all`] after the drain), and when the log
//! is dropped. A `capacity` of 0 writes every line at once, as before.
//!
//! Lines never interleave: a buffer only ever holds whole lines, and it is written
//! with one `write_all` under the destination's lock (files are opened `O_APPEND`).
//! Lines from different threads may reach the file out of time order, by up to `flush`.
//! A SIGKILL (or a crash) loses what the buffers held: at most one buffer per thread,
//! and at most `flush` worth of lines.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

/// Buffers per log. Threads are given one each in turn; past this many, threads share
/// (still correct: each buffer has its own lock, held only to append a line).
const SHARDS: usize = 64;

/// Room kept beyond `capacity` so the line that crosses it does not reallocate.
const LINE_ROOM: usize = 4096;

/// One thread's lines, on a cache line of its own so neighbours do not contend.
#[repr(align(128))]
struct Shard(Mutex<Vec<u8>>);

pub struct Sink {
    shards: Box<[Shard]>,
    out: Mutex<Box<dyn Write + Send>>,
    capacity: usize,
    /// Dropped with the sink: the flusher thread sees the channel close and ends.
    _stop_flusher: Option<mpsc::Sender<()>>,
}

impl Sink {
    /// A sink writing to `out`; with a `capacity`, a flusher thread empties the buffers
    /// every `flush`.
    pub fn new(out: Box<dyn Write + Send>, capacity: usize, flush: Duration) -> Arc<Self> {
        let sink = Arc::new_cyclic(|weak: &Weak<Sink>| {
            let stop = (capacity > 0).then(|| spawn_flusher(weak.clone(), flush));
            Sink {
                shards: (0..SHARDS).map(|_| Shard(Mutex::new(Vec::new()))).collect(),
                out: Mutex::new(out),
                capacity,
                _stop_flusher: stop.flatten(),
            }
        });
        register(&sink);
        sink
    }

    /// Appends one line, made by `format` (which must not write a newline), to this
    /// thread's buffer, and writes the buffer out if that filled it.
    pub fn line(&self, format: impl FnOnce(&mut Vec<u8>)) {
        let mut buf = lock(&self.shards[this_threads_shard()].0);
        if buf.capacity() == 0 {
            buf.reserve_exact(self.capacity + LINE_ROOM);
        }
        format(&mut buf);
        buf.push(b'\n');
        if buf.len() >= self.capacity {
            self.write_out(&mut buf);
        }
    }

    /// Writes every buffered line out.
    pub fn flush(&self) {
        for shard in self.shards.iter() {
            let mut buf = lock(&shard.0);
            if !buf.is_empty() {
                self.write_out(&mut buf);
            }
        }
    }

    fn write_out(&self, buf: &mut Vec<u8>) {
        let mut out = lock(&self.out);
        // A full disk or closed stdout must not fail requests; the lines are dropped.
        let _ = out.write_all(buf).and_then(|()| out.flush());
        buf.clear();
    }
}

impl Drop for Sink {
    /// A log retired by a reload, or dropped with its proxy, keeps nothing back.
    fn drop(&mut self) {
        self.flush();
    }
}

/// A poisoned lock only means a panic elsewhere mid-line; the buffer is still whole
/// lines up to its last newline, which is all a writer relies on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shard this thread appends to, given on its first line.
fn this_threads_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// The thread that writes out buffers every `every`, so lines of a thread gone idle
/// still leave within the bound. It holds the sink weakly and ends when the sink is
/// dropped. `None` (no bound but full buffers and shutdown) if no thread can be made.
fn spawn_flusher(sink: Weak<Sink>, every: Duration) -> Option<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    let flusher = move || {
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            match sink.upgrade() {
                Some(sink) => sink.flush(),
                None => return,
            }
        }
    };
    match std::thread::Builder::new()
        .name("weir-log-flush".into())
        .spawn(flusher)
    {
        Ok(_) => Some(stop),
        Err(e) => {
            eprintln!("weir: no access-log flusher thread ({e}); lines wait for a full buffer");
            None
        }
    }
}

/// Every sink alive, for [`flush_all`].
static SINKS: Mutex<Vec<Weak<Sink>>> = Mutex::new(Vec::new());

fn register(sink: &Arc<Sink>) {
    let mut sinks = lock(&SINKS);
    sinks.retain(|s| s.strong_count() > 0);
    sinks.push(Arc::downgrade(sink));
}

/// Writes out every access log's buffered lines. The server calls it on a reload
/// (SIGHUP), so a rotated file gets every line from before it, and after the drain at
/// shutdown (SIGTERM, SIGINT, [`Handle::stop`](crate::Handle::stop)), so none is lost.
pub fn flush_all() {
    let sinks: Vec<Arc<Sink>> = lock(&SINKS).iter().filter_map(Weak::upgrade).collect();
    for sink in sinks {
        sink.flush();
    }
}
