//! The `Date` header on replies weir writes itself, as RFC 9110 §6.6.1 asks of an origin
//! with a clock: `Date: Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, always GMT).
//!
//! Why a cache: the value changes once a second while a busy server writes thousands of
//! replies a second. Each worker thread keeps the last formatted second in a
//! thread-local, so a reply costs one clock read (vDSO, no system call) and a 29-byte
//! copy; nothing is shared between threads, so there is no lock. This is what nginx
//! (`ngx_cached_http_time`) and hyper (`CachedDate`) do.
//!
//! Why not on relayed responses: a proxy passes the origin's `Date` through and adds
//! none (§6.6.1 leaves that to the origin), as nginx and HAProxy do. Only replies weir
//! authors (the built-in backend, and the proxy's own errors and local replies) get one.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::time::{self, MONTHS, WEEKDAYS};

/// `Sun, 06 Nov 1994 08:49:37 GMT` is always this long.
const LEN: usize = 29;

thread_local! {
    /// The second last formatted on this thread, and its text.
    static CACHED: Cell<(u64, [u8; LEN])> = const { Cell::new((u64::MAX, [0; LEN])) };
}

/// Appends `Date: <now>\r\n` to a response head being written.
///
/// Writes nothing if the system clock reads before 1970: RFC 9110 says an origin
/// without a reliable clock must not send `Date`, and a clock that far off is not one.
pub(crate) fn push_date_header(out: &mut Vec<u8>) {
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return;
    };
    let second = now.as_secs();
    let text = CACHED.with(|c| {
        let (cached, text) = c.get();
        if cached == second {
            return text;
        }
        let text = imf_fixdate(second);
        c.set((second, text));
        text
    });
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(&text);
    out.extend_from_slice(b"\r\n");
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7).
fn imf_fixdate(secs: u64) -> [u8; LEN] {
    let t = time::from_unix(secs as i64);
    let mut out = [0u8; LEN];
    let text = format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[t.weekday as usize],
        t.day,
        MONTHS[t.month as usize - 1],
        t.year,
        t.hour,
        t.minute,
        t.second
    );
    // Four-digit years (0000-9999) keep the length fixed; past 9999 the text is cut.
    let n = text.len().min(LEN);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixdate(secs: u64) -> String {
        String::from_utf8(imf_fixdate(secs).to_vec()).unwrap()
    }

    #[test]
    fn known_dates() {
        // RFC 9110's own example.
        assert_eq!(fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // A leap day, and the last second of a leap year.
        assert_eq!(fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fixdate(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 GMT");
        // 2038-01-19T03:14:08Z, one past the 32-bit time_t limit.
        assert_eq!(fixdate(2_147_483_648), "Tue, 19 Jan 2038 03:14:08 GMT");
    }

    #[test]
    fn the_header_is_one_line_of_now() {
        let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        push_date_header(&mut out);
        push_date_header(&mut out); // the cached value, same second or the next
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        for line in &lines[1..] {
            let value = line.strip_prefix("Date: ").expect("a Date line");
            let ok = (before..=after).any(|s| fixdate(s) == value);
            assert!(ok, "{value:?} is not a second between {before} and {after}");
        }
    }
}
