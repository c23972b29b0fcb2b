//! `Date` on the replies weir writes itself (RFC 9110 §6.6.1), checked over real sockets.

mod util;

use std::time::{SystemTime, UNIX_EPOCH};

use util::client::{get, once, Resp};
use weir::backend::Mode;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Seconds since 1970 of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), or `None`
/// if it is not one. Written independently of weir's formatter, so the two can disagree.
fn parse_imf_fixdate(s: &str) -> Option<i64> {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // from 1970-01-01
    let p: Vec<&str> = s.split(' ').collect();
    let [wd, day, mon, year, hms, "GMT"] = p[..] else {
        return None;
    };
    let wd = wd.strip_suffix(',')?;
    (day.len() == 2 && year.len() == 4 && hms.len() == 8).then_some(())?;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let month = months.iter().position(|m| *m == mon)? as i64 + 1;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // Days since 1970 by counting: slow, obvious, and not the algorithm weir uses.
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += lengths[..month as usize - 1].iter().sum::<i64>() + day - 1;
    (weekdays[(days % 7) as usize] == wd).then_some(())?;
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Asserts `r` has exactly one `Date`, naming a second between `before` and `after`.
fn assert_dated(r: &Resp, before: i64, after: i64) {
    let dates: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("date"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(dates.len(), 1, "one Date: {:?}", r.headers);
    let t = parse_imf_fixdate(dates[0]).unwrap_or_else(|| panic!("IMF-fixdate: {:?}", dates[0]));
    assert!(
        (before..=after).contains(&t),
        "{:?} not in [{before}, {after}]",
        dates[0]
    );
}

#[test]
fn the_parser_in_this_test_reads_rfc_9110s_example() {
    assert_eq!(
        parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(
        parse_imf_fixdate("Mon, 06 Nov 1994 08:49:37 GMT"),
        None,
        "wrong weekday"
    );
    assert_eq!(parse_imf_fixdate("Sun, 6 Nov 1994 08:49:37 GMT"), None);
}

#[test]
fn backend_replies_carry_the_current_date() {
    let named = util::backend(Mode::Name("one".into()));
    let echo = util::backend(Mode::Echo);
    let dir = util::bin::temp_dir("date");
    let files = util::backend(Mode::Dir(dir.to_path_buf()));
    let before = now();
    let answers = [
        once(named, &get("/")),
        once(echo, &get("/")),
        once(files, &get("/missing")),
    ];
    let after = now();
    assert_eq!(
        answers.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 404]
    );
    for r in &answers {
        assert_dated(r, before, after);
    }
}

#[test]
fn weir_relays_the_origins_date_and_adds_none() {
    let backend = util::backend(Mode::Name("one".into()));
    let proxy = util::start(util::config(&[backend]));
    let before = now();
    let r = once(proxy.addr, &get("/"));
    let after = now();
    assert_eq!(r.text(), "one\n");
    assert_dated(&r, before, after);

    // An origin that sends no Date gets none added by weir: that is the origin's call.
    let origin = util::origin::origin(|_| util::origin::ok(b"undated"));
    let proxy = util::start(util::config(&[origin.addr]));
    let r = once(proxy.addr, &get("/"));
    assert_eq!(r.text(), "undated");
    assert_eq!(r.header("date"), None, "{:?}", r.headers);
}

#[test]
fn weirs_own_error_and_local_replies_carry_the_current_date() {
    let backend = util::backend(Mode::Name("one".into()));
    let proxy = util::start(util::config(&[backend]));
    let before = now();
    let bad = once(proxy.addr, b"GET / HTTP/1.1\r\n\r\n"); // no Host: 400
    let version = once(proxy.addr, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"); // 505
    let after = now();
    assert_eq!((bad.status, version.status), (400, 505));
    assert_dated(&bad, before, after);
    assert_dated(&version, before, after);
}
