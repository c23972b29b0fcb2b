//! Waiting for a condition in a test: poll it with a short pause until it holds or a
//! deadline passes. Tests wait this way instead of sleeping a guessed time, so a slow
//! machine makes them slower, not wrong.

use std::time::{Duration, Instant};

/// How long a test waits for something that should follow promptly (a counter to
/// move, a connection to close) before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The pause between two checks: short enough not to slow tests down, long enough
/// not to spin a core that the proxy under test needs.
const PAUSE: Duration = Duration::from_millis(10);

/// Polls `cond` until it holds; fails the test, naming `what`, once `limit` passes.
pub fn wait_until(limit: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(limit, cond),
        "timed out after {limit:?} waiting until {what}"
    );
}

/// Polls `cond` until it holds (true) or `limit` passes (false): for a test that
/// asserts the outcome itself or waits for either of two things.
pub fn poll_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(PAUSE);
    }
}
