//! A log line's time, formatted once a second per thread instead of once a line.

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::time::{self, MONTHS};

/// Both formats of one second.
struct Stamps {
    second: i64,
    /// `23/Nov/2026:20:10:00 +0000`, for combined lines.
    common: Vec<u8>,
    /// `2026-11-23T20:10:00Z`, for JSON lines.
    iso: Vec<u8>,
}

thread_local! {
    static STAMPS: RefCell<Stamps> = const {
        RefCell::new(Stamps { second: i64::MIN, common: Vec::new(), iso: Vec::new() })
    };
}

/// Appends the current second in the common log format.
pub fn common(line: &mut Vec<u8>) {
    with_current(|s| line.extend_from_slice(&s.common));
}

/// Appends the current second in ISO 8601, UTC.
pub fn iso(line: &mut Vec<u8>) {
    with_current(|s| line.extend_from_slice(&s.iso));
}

fn with_current(f: impl FnOnce(&Stamps)) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    STAMPS.with_borrow_mut(|s| {
        if s.second != now {
            s.refresh(now);
        }
        f(s);
    });
}

impl Stamps {
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
            common: Vec::new(),
            iso: Vec::new(),
        };
        s.refresh(1_795_464_600); // 2026-11-23 20:10:00 UTC
        assert_eq!(s.common, b"23/Nov/2026:20:10:00 +0000");
        assert_eq!(s.iso, b"2026-11-23T20:10:00Z");
    }
}
