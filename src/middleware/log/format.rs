//! The two line formats.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{recent, stamp, text};
use crate::balance::Reason;
use crate::error::Kind;
use crate::middleware::{Ctx, Summary};

/// Why the upstream was chosen: the balancer's reason, then any retry, e.g.
/// `rr; retry after refused from 127.0.0.1:9002`; `-` when no upstream was chosen.
/// A 503 for a shortage on this host ends with it, e.g. `rr; local: too many open
/// files`: the server was chosen, but never reached, and through no fault of its own.
fn reason(line: &mut Vec<u8>, cx: &Ctx, s: &Summary<'_>) {
    match &cx.reason {
        // The default balancer's reason, every request: spared `core::fmt`.
        Some(Reason::RoundRobin) => line.extend_from_slice(b"rr"),
        Some(r) => {
            let _ = write!(line, "{r}");
        }
        None => line.push(b'-'),
    }
    if let Some((addr, cause)) = cx.retried {
        let _ = write!(line, "; retry after {cause} from {addr}");
    }
    if let Some(e) = s.error.filter(|e| e.kind == Kind::LocalShortage) {
        let _ = write!(line, "; {}", e.why);
    }
}

/// `client - - [23/Nov/2026:20:10:00 +0000] "GET / HTTP/1.1" 200 12 "ref" "ua" upstream=… rt=… reason="…" route=… upstream_group=…`, then
/// ` grpc=N` for a gRPC call
pub fn combined(line: &mut Vec<u8>, cx: &Ctx, s: &Summary<'_>) {
    let req = s.request;
    let header = |line: &mut Vec<u8>, name| match req.headers.get(name) {
        Some(v) => text::escaped(line, v),
        None => line.push(b'-'),
    };
    recent::client(line, cx.client.ip());
    line.extend_from_slice(b" - - [");
    stamp::common(line, end(cx, s));
    line.extend_from_slice(b"] \"");
    if req.method.is_empty() {
        // A head that never parsed: what arrived (already escaped), as nginx logs it.
        line.extend_from_slice(cx.received.as_deref().unwrap_or("-").as_bytes());
    } else {
        text::fixed::<3>(line, req.method.as_bytes()); // GET, PUT: no `memcpy` call
        line.push(b' ');
        text::escaped(line, req.client_target().as_bytes());
        line.push(b' ');
        text::fixed::<8>(line, req.protocol.as_str().as_bytes());
    }
    status(line, s.status);
    text::number(line, s.bytes_out);
    line.extend_from_slice(b" \"");
    header(line, "referer");
    line.extend_from_slice(b"\" \"");
    header(line, "user-agent");
    line.extend_from_slice(b"\" upstream=");
    match s.upstream {
        Some(addr) => recent::upstream(line, addr),
        None => line.push(b'-'),
    }
    rt(line, s.duration);
    if matches!(cx.reason, Some(Reason::RoundRobin)) && cx.retried.is_none() && s.error.is_none() {
        // The default balancer's pick, nothing after it: one fixed-size store, no call.
        line.extend_from_slice(b" reason=\"rr\" route=");
    } else {
        line.extend_from_slice(b" reason=\"");
        reason(line, cx, s);
        line.extend_from_slice(b"\" route=");
    }
    text::escaped(line, s.route.as_bytes());
    line.extend_from_slice(b" upstream_group=");
    line.extend_from_slice(s.upstream_group.as_bytes());
    if let Some(code) = s.grpc_status {
        line.extend_from_slice(b" grpc=");
        text::number(line, u64::from(code));
    }
}

/// The request's end on the monotonic clock, which the exchange read for its duration.
fn end(cx: &Ctx, s: &Summary<'_>) -> Instant {
    cx.started
        .checked_add(s.duration)
        .unwrap_or_else(Instant::now)
}

/// `" 200 `: the request line's closing quote, the status and a space, in one
/// fixed-size store when the status has three digits (every one weir sends).
fn status(line: &mut Vec<u8>, code: u16) {
    match text::three_digits(code) {
        Some([a, b, c]) => line.extend_from_slice(&[b'"', b' ', a, b, c, b' ']),
        None => {
            line.extend_from_slice(b"\" ");
            text::number(line, u64::from(code));
            line.push(b' ');
        }
    }
}

/// ` rt=1.234`: what `{:.3}` makes of the seconds, without float formatting's cost;
/// under 10 seconds (nearly every request) in one fixed-size store.
fn rt(line: &mut Vec<u8>, d: Duration) {
    let ms = d.as_secs().saturating_mul(1000) + u64::from((d.subsec_nanos() + 500_000) / 1_000_000);
    let (secs, frac) = (ms / 1000, ms % 1000);
    let [a, b, c] = [frac / 100, frac / 10 % 10, frac % 10].map(|d| b'0' + d as u8);
    if secs < 10 {
        line.extend_from_slice(&[b' ', b'r', b't', b'=', b'0' + secs as u8, b'.', a, b, c]);
    } else {
        line.extend_from_slice(b" rt=");
        text::number(line, secs);
        line.extend_from_slice(&[b'.', a, b, c]);
    }
}

/// Appends `v` as a JSON string.
fn json_str(line: &mut Vec<u8>, v: &[u8]) {
    line.push(b'"');
    for ch in String::from_utf8_lossy(v).chars() {
        match ch {
            '"' => line.extend_from_slice(b"\\\""),
            '\\' => line.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(line, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0; 4];
                line.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    line.push(b'"');
}

/// One JSON object per line.
pub fn json(line: &mut Vec<u8>, cx: &Ctx, s: &Summary<'_>) {
    let req = s.request;
    line.extend_from_slice(b"{\"time\":\"");
    stamp::iso(line, end(cx, s));
    line.extend_from_slice(b"\",\"client\":\"");
    recent::client(line, cx.client.ip());
    line.extend_from_slice(b"\",\"method\":");
    json_str(line, req.method.as_bytes());
    line.extend_from_slice(b",\"target\":");
    json_str(line, req.client_target().as_bytes());
    let _ = write!(
        line,
        ",\"version\":\"{}\",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{:.3},\"upstream\":",
        req.protocol.as_str(),
        s.status,
        s.bytes_in,
        s.bytes_out,
        s.duration.as_secs_f64() * 1000.0
    );
    match s.upstream {
        // An address needs no escaping.
        Some(a) => {
            line.push(b'"');
            recent::upstream(line, a);
            line.push(b'"');
        }
        None => line.extend_from_slice(b"null"),
    }
    for (key, name) in [("referer", "referer"), ("user_agent", "user-agent")] {
        let _ = write!(line, ",\"{key}\":");
        match req.headers.get(name) {
            Some(v) => json_str(line, v),
            None => line.extend_from_slice(b"null"),
        }
    }
    line.extend_from_slice(b",\"received\":");
    match &cx.received {
        Some(r) => json_str(line, r.as_bytes()),
        None => line.extend_from_slice(b"null"),
    }
    line.extend_from_slice(b",\"reason\":\"");
    reason(line, cx, s);
    line.extend_from_slice(b"\",\"route\":");
    json_str(line, s.route.as_bytes());
    line.extend_from_slice(b",\"upstream_group\":");
    json_str(line, s.upstream_group.as_bytes());
    if let Some(code) = s.grpc_status {
        line.extend_from_slice(b",\"grpc_status\":");
        text::number(line, u64::from(code));
    }
    line.extend_from_slice(b",\"request_id\":");
    match req.headers.get("x-request-id") {
        Some(v) => json_str(line, v),
        None => line.extend_from_slice(b"null"),
    }
    line.extend_from_slice(b",\"upstream_time\":");
    match s.upstream_time {
        Some(t) => {
            let _ = write!(line, "{:.6}", t.as_secs_f64());
        }
        None => line.extend_from_slice(b"null"),
    }
    line.extend_from_slice(b",\"error\":");
    match s.error {
        Some(e) => json_str(line, e.why.as_bytes()),
        None => line.extend_from_slice(b"null"),
    }
    line.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::http::{Protocol, RequestHead};

    fn lines(cx: &Ctx) -> (String, String) {
        let err = Error::new(Kind::VersionNotSupported, "HTTP major version other than 1");
        lines_for(cx, &err)
    }

    /// A 200 for `req` with nothing counted: what each test changes starts from it.
    fn answered(req: &RequestHead) -> Summary<'_> {
        Summary {
            request: req,
            status: 200,
            upstream: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: std::time::Duration::ZERO,
            upstream_time: None,
            error: None,
            route: "-",
            upstream_group: "-",
            grpc_status: None,
        }
    }

    fn lines_for(cx: &Ctx, err: &Error) -> (String, String) {
        let req = RequestHead::default();
        let s = Summary {
            status: err.kind.status(),
            bytes_out: 27,
            error: Some(err),
            ..answered(&req)
        };
        let (mut c, mut j) = (Vec::new(), Vec::new());
        combined(&mut c, cx, &s);
        json(&mut j, cx, &s);
        (String::from_utf8(c).unwrap(), String::from_utf8(j).unwrap())
    }

    #[test]
    fn durations_are_seconds_to_the_millisecond() {
        for (nanos, want) in [
            (0, " rt=0.000"),
            (1_234_500_000, " rt=1.235"),
            (9_999_499_999, " rt=9.999"),
            (9_999_500_000, " rt=10.000"),
            (12_500_000_000, " rt=12.500"),
        ] {
            let mut line = Vec::new();
            rt(&mut line, Duration::from_nanos(nanos));
            assert_eq!(String::from_utf8(line).unwrap(), want);
        }
    }

    #[test]
    fn round_robin_is_logged_as_it_displays() {
        let mut cx = Ctx::rejected("127.0.0.1:5000".parse().unwrap(), b"");
        cx.reason = Some(Reason::RoundRobin);
        let (combined, _) = lines(&cx);
        assert!(
            combined.contains(&format!("reason=\"{}\"", Reason::RoundRobin)),
            "{combined}"
        );
    }

    #[test]
    fn a_plain_round_robin_pick_is_logged_as_it_displays() {
        let mut cx = Ctx::new("127.0.0.1:5000".parse().unwrap());
        cx.reason = Some(Reason::RoundRobin);
        let req = RequestHead::default();
        let s = answered(&req);
        let mut line = Vec::new();
        combined(&mut line, &cx, &s);
        let line = String::from_utf8(line).unwrap();
        let want = format!(" reason=\"{}\" route=- ", Reason::RoundRobin);
        assert!(line.contains(&want), "{line}");
    }

    #[test]
    fn a_refused_head_is_logged_as_received() {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let cx = Ctx::rejected(peer, b"GET /\"x HTTP/2.0\r\nHost: a\r\n\r\n");
        let (combined, json) = lines(&cx);
        assert!(
            combined.contains(" \"GET /\\x22x HTTP/2.0\" 505 27 "),
            "{combined}"
        );
        assert!(
            json.contains(r#""received":"GET /\\x22x HTTP/2.0""#),
            "{json}"
        );

        let (combined, json) = lines(&Ctx::rejected(peer, b""));
        assert!(combined.contains(" \"-\" 505 "), "{combined}");
        assert!(json.contains(r#""received":null"#), "{json}");
    }

    #[test]
    fn the_request_line_ends_with_the_requests_protocol() {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let cx = Ctx::new(peer);
        for (protocol, printed) in [
            (Protocol::Http10, "HTTP/1.0"),
            (Protocol::Http11, "HTTP/1.1"),
            (Protocol::Http2, "HTTP/2.0"),
        ] {
            let req = RequestHead {
                method: "GET".into(),
                target: "/a".into(),
                protocol,
                ..Default::default()
            };
            let s = answered(&req);
            let (mut c, mut j) = (Vec::new(), Vec::new());
            combined(&mut c, &cx, &s);
            json(&mut j, &cx, &s);
            let (c, j) = (String::from_utf8(c).unwrap(), String::from_utf8(j).unwrap());
            assert!(c.contains(&format!("\"GET /a {printed}\" 200 ")), "{c}");
            assert!(j.contains(&format!("\"version\":\"{printed}\"")), "{j}");
        }
    }

    #[test]
    fn a_503_for_a_local_shortage_names_it_after_the_balancers_reason() {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let mut cx = Ctx::rejected(peer, b"");
        cx.reason = Some(crate::balance::Reason::RoundRobin);
        let err = Error::new(Kind::LocalShortage, "local: too many open files");
        let (combined, json) = lines_for(&cx, &err);
        let want = "rr; local: too many open files";
        assert!(
            combined.contains(&format!("reason=\"{want}\"")),
            "{combined}"
        );
        assert!(json.contains(&format!("\"reason\":\"{want}\"")), "{json}");
    }
}
