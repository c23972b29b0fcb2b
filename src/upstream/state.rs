//! Live per-server state: requests in flight and passive health.
//!
//! Passive health follows nginx: `max_fails` failures (connect error, timeout, or a 5xx
//! when `fail_on_5xx`) within `fail_timeout` take a server out of rotation for
//! `fail_timeout`; after that it is eligible again, and one more failure takes it out
//! again at once, while a success restores it fully. Active checks (when configured)
//! also mark a server down or up.
//!
//! Each change is said once. The success that ends a down mark is seen here, under
//! the lock that also takes the mark away, so it is reported exactly once however many
//! requests succeed at the same moment.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Passive health settings from `[upstream]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passive {
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub fail_on_5xx: bool,
}

impl Default for Passive {
    fn default() -> Self {
        Passive {
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            fail_on_5xx: false,
        }
    }
}

#[derive(Default)]
struct Fails {
    count: u32,
    window_start: Option<Instant>,
    down_until: Option<Instant>,
    last_fail: Option<Instant>,
}

/// One server's live state.
#[derive(Default)]
pub struct ServerState {
    in_flight: AtomicU32,
    fails: Mutex<Fails>,
    /// True while `fails` holds a count or a down mark. Healthy servers are the common
    /// case, so every pick and every success checks this flag instead of the lock.
    troubled: AtomicBool,
    /// False while active health checks say the server is down.
    checked_up: AtomicBool,
    checked: AtomicBool,
    /// Set through the admin API: no new requests, in-flight ones finish (HAProxy's
    /// `drain`). Kept across a reload that keeps the group.
    drained: AtomicBool,
    /// Not in the group's current list: an empty discovery slot, or an address the
    /// latest DNS answer no longer gives. Like `drained`, but set by discovery.
    unlisted: AtomicBool,
    /// An SRV record's priority (0 for every other server): only the lowest
    /// priority with a server up takes requests.
    priority: AtomicU16,
}

/// Decrements the in-flight count when a request's use of a server ends.
pub struct InFlight<'a>(&'a ServerState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl ServerState {
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Takes the server out of rotation for new requests (`true`) or back in; true if
    /// that changed anything.
    pub fn set_drained(&self, drained: bool) -> bool {
        self.drained.swap(drained, Relaxed) != drained
    }

    pub fn is_drained(&self) -> bool {
        self.drained.load(Relaxed)
    }

    /// Takes the slot out of the group's list (`true`) or puts it in; true if that
    /// changed anything.
    pub fn set_unlisted(&self, unlisted: bool) -> bool {
        self.unlisted.swap(unlisted, Relaxed) != unlisted
    }

    pub fn is_unlisted(&self) -> bool {
        self.unlisted.load(Relaxed)
    }

    pub fn priority(&self) -> u16 {
        self.priority.load(Relaxed)
    }

    pub fn set_priority(&self, priority: u16) {
        self.priority.store(priority, Relaxed);
    }

    /// Forgets passive and active health, for a slot that now holds another address
    /// (requests in flight, counted elsewhere, are the old address's and end alone).
    pub fn reset_health(&self) {
        *self.lock() = Fails::default();
        self.troubled.store(false, Relaxed);
        self.checked.store(false, Relaxed);
        self.checked_up.store(false, Relaxed);
        self.drained.store(false, Relaxed);
    }

    /// Counts a request in flight until the guard drops.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fails> {
        self.fails.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether passive and active health both allow this server now.
    pub fn is_up(&self, now: Instant) -> bool {
        if self.checked.load(Relaxed) && !self.checked_up.load(Relaxed) {
            return false;
        }
        if !self.troubled.load(Relaxed) {
            return true;
        }
        self.lock().down_until.is_none_or(|t| now >= t)
    }

    /// The active health verdict: `None` until a check has run (or without checks).
    pub fn checked(&self) -> Option<bool> {
        self.checked
            .load(Relaxed)
            .then(|| self.checked_up.load(Relaxed))
    }

    /// Whether passive health alone allows this server now.
    pub fn passive_up(&self, now: Instant) -> bool {
        !self.troubled.load(Relaxed) || self.lock().down_until.is_none_or(|t| now >= t)
    }

    /// When this server last failed (for fail-open: the least recently failed wins).
    pub fn last_fail(&self) -> Option<Instant> {
        self.lock().last_fail
    }

    /// Records a failure; true if it took the server out of rotation just now.
    pub fn fail(&self, now: Instant, p: Passive) -> bool {
        let mut f = self.lock();
        self.troubled.store(true, Relaxed);
        f.last_fail = Some(now);
        let was_down = f.down_until.is_some_and(|t| now < t);
        let in_window = f
            .window_start
            .is_some_and(|s| now.duration_since(s) < p.fail_timeout);
        if !in_window {
            f.window_start = Some(now);
            f.count = 0;
        }
        f.count += 1;
        // A server on its trial after a down period goes down again on one failure.
        let trial = f.down_until.is_some_and(|t| now >= t);
        if f.count >= p.max_fails.max(1) || trial {
            f.down_until = Some(now + p.fail_timeout);
            return !was_down;
        }
        false
    }

    /// Records a success of a request sent to the server at `sent`: the failure count
    /// and any down mark are cleared. True (and logged by the group) when the server
    /// had been marked down: it is back. A request sent before the latest failure says
    /// nothing of the server since, so its success changes nothing (nginx clears a
    /// peer's failures only for a request that chose it after them): a call already
    /// running on a server that then began to stop must not bring it back
    /// (bench/profiling.md, "Flaky tests, round six").
    pub fn succeed(&self, sent: Instant) -> bool {
        if !self.troubled.load(Relaxed) {
            return false;
        }
        let mut f = self.lock();
        if f.last_fail.is_some_and(|failed| sent < failed) {
            return false;
        }
        self.troubled.store(false, Relaxed);
        let back = f.down_until.is_some();
        if f.count != 0 || back {
            *f = Fails {
                last_fail: f.last_fail,
                ..Fails::default()
            };
        }
        drop(f);
        back
    }

    /// Sets the active health verdict; true if it changed.
    pub fn set_checked(&self, up: bool) -> bool {
        let was_checked = self.checked.swap(true, Relaxed);
        let was_up = self.checked_up.swap(up, Relaxed);
        !was_checked && !up || was_checked && was_up != up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_passive_semantics() {
        let s = ServerState::default();
        let p = Passive {
            max_fails: 2,
            fail_timeout: Duration::from_secs(10),
            fail_on_5xx: false,
        };
        let t0 = Instant::now();
        assert!(!s.fail(t0, p), "one of two failures");
        assert!(s.is_up(t0));
        assert!(
            s.fail(t0 + Duration::from_secs(1), p),
            "second failure in the window"
        );
        assert!(!s.is_up(t0 + Duration::from_secs(2)));
        let later = t0 + Duration::from_secs(12);
        assert!(s.is_up(later), "back for a trial after fail_timeout");
        assert!(s.fail(later, p), "a failed trial takes it out at once");
        assert!(
            s.succeed(later),
            "a success after a down mark is a comeback"
        );
        assert!(s.is_up(later));
        assert!(!s.succeed(later), "and only once");
        assert!(!s.fail(later, p), "one failure of two again");
        assert!(!s.succeed(later), "clearing a count alone is no comeback");
    }

    #[test]
    fn a_success_of_a_request_sent_before_the_failure_changes_nothing() {
        let s = ServerState::default();
        let p = Passive {
            max_fails: 1,
            fail_timeout: Duration::from_secs(60),
            fail_on_5xx: false,
        };
        let t0 = Instant::now();
        assert!(s.fail(t0 + Duration::from_secs(1), p), "down at 1 s");
        let answered = t0 + Duration::from_secs(2);
        assert!(!s.succeed(t0), "sent at 0 s, before the failure: stale");
        assert!(!s.is_up(answered), "still down");
        assert!(
            s.succeed(t0 + Duration::from_millis(1500)),
            "sent at 1.5 s: back"
        );
        assert!(s.is_up(answered));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let s = ServerState::default();
        let p = Passive {
            max_fails: 2,
            ..Passive::default()
        };
        let t0 = Instant::now();
        s.fail(t0, p);
        assert!(!s.fail(t0 + Duration::from_secs(11), p));
        assert!(s.is_up(t0 + Duration::from_secs(11)));
    }
}
