//! A log line's time, formatted once a second per thread instead of once a line.
//!
//! Nor is the wall clock read for every line: the request's end is known on the
//! monotonic clock already (its start plus its duration), and the second read last
//! holds until that clock has moved past the second's end. A wall clock set while a
//! second runs shows from the next second on.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::text;
use crate::http::time::{self, MONTHS};

/// Both formats of one second.
struct Stamps {
    second: i64,
    /// When, on the monotonic clock, `second` ends (`None`: not read yet).
    until: Option<Instant>,
    /// `23/Nov/2026:20:10:00 +0000`, for combined lines.
    common: Vec<u8>,
    /// `2026-11-23T20:10:00Z`, for JSON lines.
    iso: Vec<u8>,
}

thread_local! {
    static STAMPS: RefCell<Stamps> = const {
        RefCell::new(Stamps { second: i64::MIN, until: None, common: Vec::new(), iso: Vec::new() })
    };
}

/// Appends the second of `now` (the line's moment) in the common log format.
pub fn common(line: &mut Vec<u8>, now: Instant) {
    with_current(now, |s| text::fixed::<26>(line, &s.common));
}

/// Appends the second of `now` in ISO 8601, UTC.
pub fn iso(line: &mut Vec<u8>, now: Instant) {
    with_current(now, |s| text::fixed::<20>(line, &s.iso));
}

fn with_current(now: Instant, f: impl FnOnce(&Stamps)) {
    STAMPS.with_borrow_mut(|s| {
        if s.until.is_none_or(|until| now >= until) {
            s.read_clock(now);
        }
        f(s);
    });
}

impl Stamps {
    /// Reads the wall clock at `now`: its second, and when that ends.
    fn read_clock(&mut self, now: Instant) {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let left = Duration::from_secs(1) - Duration::from_nanos(u64::from(wall.subsec_nanos()));
        self.until = now.checked_add(left);
        let second = wall.as_secs() as i64;
        if second != self.second {
            self.refresh(second);
        }
    }

    fn refresh(&mut self, second: i64) {
        let t = time::from_unix(second);
        self.second = second;
        self.common.clear();
        self.iso.clear();
        let _ = write!(
            self.common,
            "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
            t.day,
            MONTHS[t.month as usize - 1],
            t.year,
            t.hour,
            t.minute,
            t.second,
        );
        let _ = write!(
            self.iso,
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_of_one_second() {
        let mut s = Stamps {
            second: 0,
            until: None,
            common: Vec::new(),
            iso: Vec::new(),
        };
        s.refresh(1_795_464_600); // 2026-11-23 20:10:00 UTC
        assert_eq!(s.common, b"23/Nov/2026:20:10:00 +0000");
        assert_eq!(s.iso, b"2026-11-23T20:10:00Z");
    }
}
