//! Talking to weir's admin listener: scrape `/metrics`, read series, call the API.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::client::{once, Resp};

/// A config over `upstreams` with the admin listener on 127.0.0.1:0.
pub fn config(upstreams: &[SocketAddr]) -> weir::Config {
    let mut c = super::config(upstreams);
    c.admin = Some(weir::config::Admin::new("127.0.0.1:0".parse().unwrap()));
    c
}

/// `METHOD path` on the admin listener, with a bearer token if given, as an API client
/// sends it: `Host` the listener's address and, on a state change, `X-Weir-Admin`.
pub fn call(admin: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Resp {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let marker = match method {
        "GET" | "HEAD" => "",
        _ => "X-Weir-Admin: 1\r\n",
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\n{auth}{marker}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    once(admin, req.as_bytes())
}

pub fn scrape(admin: SocketAddr) -> String {
    let r = call(admin, "GET", "/metrics", None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The value of the series written exactly as `series` (name and labels), if present.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `series` has the value `want` (counting completes just after the
/// response is written) or `limit` passes; returns the last exposition.
pub fn wait_for(admin: SocketAddr, series: &str, want: f64, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = scrape(admin);
        if value(&text, series) == Some(want) || Instant::now() > deadline {
            return text;
        }
        std::thread::yield_now();
    }
}

/// The JSON body of a `GET` on the admin API.
pub fn json(admin: SocketAddr, path: &str) -> serde_json::Value {
    let r = call(admin, "GET", path, None);
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).expect("JSON")
}

/// Asserts that Prometheus' own parser (`promtool check metrics`) accepts `exposition`;
/// `context` is added to the failure message.
pub fn promtool_accepts(exposition: &[u8], context: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(exposition).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{context}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// The admin listener's address, from the binary's `admin on http://ADDR ...` line.
pub fn announced(weir: &super::bin::Running) -> SocketAddr {
    let line = weir
        .later
        .wait_for("admin on http://", Duration::from_secs(10))
        .expect("the admin address is announced");
    let rest = line.split("http://").nth(1).unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}
