//! Open h2 streams: the process-wide bound (`limits.max_streams`), and each
//! connection's own count, which tells its task when the connection went idle.
//!
//! Why a bound beside `max_connections`: a seat is one client connection, but an h2
//! connection carries up to 100 streams at once, each an exchange with an upstream
//! connection and buffers of its own. The seats alone would let 10,000 h2 clients start
//! a million exchanges. nginx counts every h2 stream against `worker_connections`; weir
//! keeps the two apart, so an HTTP/1.1 client is never locked out by streams, and by
//! default allows as many open streams as seats: h2 clients together then hold no more
//! exchanges than as many HTTP/1.1 clients could. Past the bound a new stream is reset
//! with `REFUSED_STREAM`, which tells the client the request was not processed and may
//! be retried (RFC 9113 §8.7), as a browser does.
//!
//! Why a count per connection: the idle clock (`timeouts.idle`) and eviction at
//! `max_connections` apply to a connection with no stream open, from the moment its
//! last stream ended, not from when its last stream began.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::metrics::h2::{H2Stats, H2StreamGuard};
use crate::metrics::Metrics;

/// The streams open across the process, against `limits.max_streams`.
pub(crate) struct StreamBound {
    max: usize,
    open: AtomicUsize,
}

impl StreamBound {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(StreamBound {
            max,
            open: AtomicUsize::new(0),
        })
    }

    /// Takes a place for a new stream; false at the bound.
    fn take(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }
}

/// One connection's open streams, and when the last one ended.
pub(super) struct Activity {
    open: AtomicUsize,
    /// When the connection last went idle, and its task's waker while it is busy.
    quiet: Mutex<(Instant, Option<Waker>)>,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            open: AtomicUsize::new(0),
            quiet: Mutex::new((Instant::now(), None)),
        })
    }

    fn quiet(&self) -> MutexGuard<'_, (Instant, Option<Waker>)> {
        self.quiet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long no stream has been open; `None` while one is.
    pub fn idle_for(&self) -> Option<Duration> {
        let quiet = self.quiet();
        (self.open.load(Ordering::Acquire) == 0).then(|| quiet.0.elapsed())
    }

    /// Resolves once no stream is open (at once if none is).
    pub async fn went_idle(&self) {
        std::future::poll_fn(|cx| {
            let mut quiet = self.quiet();
            if self.open.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            quiet.1 = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn ended(&self) {
        // Under the lock, so `idle_for` never sees no stream open with a stale time.
        let mut quiet = self.quiet();
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            quiet.0 = Instant::now();
            if let Some(w) = quiet.1.take() {
                w.wake();
            }
        }
    }
}

/// A stream's place in both counts (and the metrics), given back on drop.
pub(super) struct Open {
    bound: Arc<StreamBound>,
    activity: Arc<Activity>,
    _counted: H2StreamGuard,
}

/// A place for a new stream on the connection `activity` counts, unless
/// `limits.max_streams` are open (then counted as refused).
pub(super) fn open(
    bound: &Arc<StreamBound>,
    activity: &Arc<Activity>,
    metrics: &Arc<Metrics>,
) -> Option<Open> {
    if !bound.take() {
        metrics.h2.refused();
        return None;
    }
    activity.open.fetch_add(1, Ordering::AcqRel);
    Some(Open {
        bound: bound.clone(),
        activity: activity.clone(),
        _counted: H2Stats::stream(metrics),
    })
}

impl Drop for Open {
    fn drop(&mut self) {
        self.bound.open.fetch_sub(1, Ordering::AcqRel);
        self.activity.ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_refuses_past_max_and_frees_on_drop() {
        let bound = StreamBound::new(2);
        let (a, m) = (Activity::new(), Arc::new(Metrics::default()));
        let one = open(&bound, &a, &m).unwrap();
        let two = open(&bound, &a, &m).unwrap();
        assert!(open(&bound, &a, &m).is_none());
        assert_eq!(m.h2.streams_refused.load(Ordering::Relaxed), 1);
        assert_eq!(m.h2.streams_active.load(Ordering::Relaxed), 2);
        drop(one);
        assert!(a.idle_for().is_none(), "one stream is still open");
        let three = open(&bound, &a, &m).unwrap();
        drop((two, three));
        assert!(a.idle_for().is_some());
        assert_eq!(m.h2.streams_total.load(Ordering::Relaxed), 3);
        assert_eq!(m.h2.streams_active.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_idle_clock_starts_when_the_last_stream_ends() {
        let (bound, a, m) = (
            StreamBound::new(9),
            Activity::new(),
            Arc::new(Metrics::default()),
        );
        let s = open(&bound, &a, &m).unwrap();
        std::thread::sleep(Duration::from_millis(30)); // time passing while busy
        drop(s);
        assert!(a.idle_for().unwrap() < Duration::from_millis(30));
    }
}
