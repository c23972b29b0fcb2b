//! Local resource shortages met while connecting upstream (no file descriptor, no
//! local port, no buffer space): never the server's fault.
//!
//! Such a connect failure is answered 503 without touching the server's passive health
//! (with `ulimit -n 256` and 1,000 clients, blaming the servers took every one of them
//! out of rotation for `fail_timeout`). It is counted, and logged once when a shortage
//! begins and once when connects work again, so a flood of failures is two lines.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Shortage {
    short: AtomicBool,
    count: AtomicU64,
}

impl Shortage {
    /// Records a connect that failed for want of `what` (`local: too many open files`).
    pub fn hit(&self, what: &str) {
        self.count.fetch_add(1, Relaxed);
        if !self.short.swap(true, Relaxed) {
            eprintln!("weir: {what} while connecting upstream; answering 503, servers not blamed");
        }
    }

    /// Records a connect that worked: ends a shortage, if one was on.
    pub fn clear(&self) {
        if self.short.load(Relaxed) && self.short.swap(false, Relaxed) {
            let n = self.count.load(Relaxed);
            eprintln!("weir: upstream connects work again ({n} refused locally so far)");
        }
    }

    /// Connects refused for a local shortage since start-up.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}
