//! The `log` built-in: one line per request in combined or JSON form, errors included.

mod util;

use std::fs;

use util::bin::temp_dir;
use util::client::{get, once, Conn};
use util::origin::{ok, origin};
use weir::config::MiddlewareSpec;

fn log_config(
    upstream: std::net::SocketAddr,
    format: &str,
    path: &std::path::Path,
) -> weir::Config {
    let mut config = util::config(&[upstream]);
    let entry = format!(
        "builtin = \"log\"\nconfig = {{ format = \"{format}\", path = {:?} }}\n",
        path.display().to_string()
    );
    let spec: MiddlewareSpec = toml::from_str(&entry).unwrap();
    config.middleware.insert(0, spec);
    config
}

/// The log's lines; callers stop the proxy first, so every `on_complete` has run.
fn lines(path: &std::path::Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn combined_format_records_request_status_bytes_and_upstream() {
    let o = origin(|_| ok(b"12345"));
    let dir = temp_dir("combined");
    let path = dir.join("access.log");
    let proxy = util::start(log_config(o.addr, "combined", &path));
    let mut c = Conn::open(proxy.addr);
    c.roundtrip(
        b"GET /page?q=1 HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\nUser-Agent: tester/1\r\n\r\n",
    );
    once(proxy.addr, b"GET / HTTP/1.1\r\n\r\n"); // 400: no Host
    proxy.stop().unwrap();
    let lines = lines(&path);
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Two connections, two worker threads: the lines may land in either order.
    let with = |status: &str| {
        let found = lines.iter().find(|l| l.contains(status));
        found.unwrap_or_else(|| panic!("no {status} line in {lines:?}"))
    };
    let (ok_line, bad_line) = (with("\" 200 "), with("\" 400 "));
    assert!(ok_line.starts_with("127.0.0.1 - - ["), "{ok_line}");
    assert!(
        ok_line.contains("\"GET /page?q=1 HTTP/1.1\" 200 5 \"http://r/\" \"tester/1\""),
        "{ok_line}"
    );
    assert!(
        ok_line.contains(&format!("upstream={}", o.addr)),
        "{ok_line}"
    );
    assert!(bad_line.contains("upstream=-"), "{bad_line}");
}

#[test]
fn json_format_is_one_object_per_line() {
    let o = origin(|_| ok(b"abc"));
    let dir = temp_dir("json");
    let path = dir.join("access.log");
    let proxy = util::start(log_config(o.addr, "json", &path));
    // A raw backslash in the query is forwarded and a raw `"` refused with 400 (see
    // request.rs); both are logged, escaped.
    once(proxy.addr, &get("/j?\\back"));
    once(proxy.addr, &get("/j\"quote"));
    proxy.stop().unwrap();
    let lines = lines(&path);
    assert_eq!(lines.len(), 2);
    // Lines are written as exchanges complete, not necessarily in order.
    let (refused, l) = match lines[0].contains("quote") {
        true => (&lines[0], &lines[1]),
        false => (&lines[1], &lines[0]),
    };
    assert!(refused.contains("\"target\":\"/j\\\"quote\""), "{refused}");
    assert!(refused.contains("\"status\":400"), "{refused}");
    assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
    for field in [
        "\"method\":\"GET\"",
        "\"target\":\"/j?\\\\back\"",
        "\"status\":200",
        "\"bytes_out\":3",
        "\"error\":null",
    ] {
        assert!(l.contains(field), "{field} in {l}");
    }
    assert!(l.contains(&format!("\"upstream\":\"{}\"", o.addr)), "{l}");
    // The request's id (made by weir here) and the seconds to the response head.
    assert!(l.contains("\"request_id\":\""), "{l}");
    let upstream_time = l.split("\"upstream_time\":").nth(1).unwrap();
    let upstream_time: f64 = upstream_time[..upstream_time.find([',', '}']).unwrap()]
        .parse()
        .unwrap();
    assert!(upstream_time > 0.0 && upstream_time < 10.0, "{l}");
    assert!(refused.contains("\"upstream_time\":null"), "{refused}");
}

#[test]
fn a_505_is_logged_with_the_request_line_as_received() {
    let o = origin(|_| ok(b"x"));
    let dir = temp_dir("received");
    let path = dir.join("access.log");
    let proxy = util::start(log_config(o.addr, "combined", &path));
    let r = once(proxy.addr, b"GET /x\"y HTTP/2.0\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 505);
    proxy.stop().unwrap();
    let lines = lines(&path);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" \"GET /x\\x22y HTTP/2.0\" 505 "),
        "{}",
        lines[0]
    );
}
