//! Throttling a plugin's error lines, per instance and hook.
//!
//! A hook that panics (or fails) on every request writes an error line on every
//! request: 100,000 lines in five seconds under load, which fills disks and drowns
//! every other message. So, per instance and hook, the first error line is written,
//! and the ones after it within [`SUMMARY_EVERY`] are only counted; the next one after
//! that interval is written together with a summary of how many were held back. Info
//! and warning lines are the plugin's own business and are never held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long error lines from one instance's hook are counted before the next is shown.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// The hook a plugin call belongs to; each has its own window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hook {
    OnRequest,
    ChooseUpstream,
    OnResponse,
    OnComplete,
}

impl Hook {
    const ALL: usize = 4;

    pub fn name(self) -> &'static str {
        match self {
            Hook::OnRequest => "on_request",
            Hook::ChooseUpstream => "choose_upstream",
            Hook::OnResponse => "on_response",
            Hook::OnComplete => "on_complete",
        }
    }
}

#[derive(Default)]
struct Window {
    /// When the last written line opened this window; `None` before the first line.
    opened: Option<Instant>,
    /// Lines held back since.
    held: u64,
}

/// What to do with one error line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Write it; `held` lines were held back in the `over` before it (0: none).
    Write { held: u64, over: Duration },
    /// Count it only.
    Hold,
}

/// One plugin instance's error-line windows, one per hook.
pub(super) struct LogThrottle {
    every: Duration,
    windows: [Mutex<Window>; Hook::ALL],
}

impl LogThrottle {
    pub fn new(every: Duration) -> Self {
        LogThrottle {
            every,
            windows: Default::default(),
        }
    }

    /// Decides about an error line from `hook` at `now` (a parameter so tests need no
    /// clock).
    pub fn admit(&self, hook: Hook, now: Instant) -> Verdict {
        let mut w = self.windows[hook as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match w.opened {
            Some(opened) if now.saturating_duration_since(opened) < self.every => {
                w.held += 1;
                Verdict::Hold
            }
            opened => {
                let verdict = Verdict::Write {
                    held: w.held,
                    over: opened.map_or(Duration::ZERO, |o| now.saturating_duration_since(o)),
                };
                *w = Window {
                    opened: Some(now),
                    held: 0,
                };
                verdict
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_then_a_summary_per_interval_per_hook() {
        let t = LogThrottle::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let first = Verdict::Write {
            held: 0,
            over: Duration::ZERO,
        };
        assert_eq!(t.admit(Hook::OnRequest, at(0)), first);
        for ms in 1..1000 {
            assert_eq!(t.admit(Hook::OnRequest, at(ms)), Verdict::Hold);
        }
        // Another hook of the same instance has its own window.
        assert_eq!(t.admit(Hook::OnResponse, at(10)), first);
        assert_eq!(t.admit(Hook::OnRequest, at(4_999)), Verdict::Hold);
        assert_eq!(
            t.admit(Hook::OnRequest, at(5_000)),
            Verdict::Write {
                held: 1000,
                over: Duration::from_secs(5)
            }
        );
        assert_eq!(t.admit(Hook::OnRequest, at(5_001)), Verdict::Hold);
        // After a quiet spell, the next line is written with what was held.
        assert_eq!(
            t.admit(Hook::OnRequest, at(60_000)),
            Verdict::Write {
                held: 1,
                over: Duration::from_secs(55)
            }
        );
        assert_eq!(
            t.admit(Hook::OnRequest, at(70_000)),
            Verdict::Write {
                held: 0,
                over: Duration::from_secs(10)
            }
        );
    }
}
