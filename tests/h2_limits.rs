//! HTTP/2 limits and attacks, frame by frame through the real proxy on an `h2c`
//! listener: concurrent streams, header list size, HPACK bomb, CONTINUATION flood,
//! PING/SETTINGS/PRIORITY/WINDOW_UPDATE/empty-DATA floods, rapid reset (the client's
//! resets cancel the upstream requests), a zero window, slow HEADERS. Each test checks
//! what the client sees (GOAWAY and its code, RST_STREAM, a status) and what reached
//! the origin.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use util::h2::{
    block, frame, goaway_code, literal, open, reset_code, until, CANCEL, END_HEADERS,
    END_STREAM_AND_HEADERS, ENHANCE_YOUR_CALM, GOOD, HEADERS, NO_ERROR, REFUSED_STREAM, RST_STREAM,
};
use util::origin::{ok, origin};
use util::wait::{wait_until, WAIT};
use weir::config::UpstreamProtocol;

/// A proxy with one `h2c` listener in front of `origin`; `extra` adds tables.
fn proxy(origin: SocketAddr, extra: &str) -> util::TestProxy {
    util::h2c_proxy(
        origin,
        UpstreamProtocol::Http1,
        &format!("threads = 2\n{extra}"),
    )
}

/// An origin that reads requests and never answers; counts heads and closed connections.
struct Silent {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    accepts: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
}

impl Silent {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
    fn closes(&self) -> usize {
        self.closes.load(Ordering::SeqCst)
    }
}

fn silent() -> Silent {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let o = Silent {
        addr: listener.local_addr().unwrap(),
        requests: Arc::default(),
        accepts: Arc::default(),
        closes: Arc::default(),
    };
    let (requests, accepts, closes) = (o.requests.clone(), o.accepts.clone(), o.closes.clone());
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            accepts.fetch_add(1, Ordering::SeqCst);
            let (requests, closes) = (requests.clone(), closes.clone());
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    seen.extend_from_slice(&buf[..n]);
                    let heads = seen.windows(4).filter(|w| w == b"\r\n\r\n").count();
                    requests.fetch_add(heads, Ordering::SeqCst);
                    seen.drain(..seen.len().saturating_sub(3));
                }
                closes.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    o
}

fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).unwrap();
}

fn get(stream: u32) -> Vec<u8> {
    frame(1, END_STREAM_AND_HEADERS, stream, &block(GOOD))
}

fn rst(stream: u32) -> Vec<u8> {
    frame(3, 0, stream, &CANCEL.to_be_bytes())
}

/// The first frame of `stream` that answers it (HEADERS or RST_STREAM).
fn answer_of(s: &mut TcpStream, stream: u32) -> Option<util::h2::Frame> {
    until(s, |f| {
        f.stream == stream && matches!(f.kind, HEADERS | RST_STREAM)
    })
}

// ---------------------------------------------------------------------------------------
// Streams and headers (bounded by the h2 crate with weir's settings).
// ---------------------------------------------------------------------------------------

#[test]
fn streams_past_max_concurrent_streams_are_refused() {
    let o = silent();
    let p = proxy(o.addr, "[http2]\nmax_concurrent_streams = 2\n");
    let mut s = open(p.addrs[0], &[]);
    let settings = until(&mut s, |f| f.kind == 4 && f.flags & 1 == 0).unwrap();
    assert!(
        settings.payload.chunks(6).any(|c| c == [0, 3, 0, 0, 0, 2]),
        "SETTINGS_MAX_CONCURRENT_STREAMS 2 announced: {settings:?}"
    );
    send(&mut s, &[get(1), get(3)].concat());
    wait_until(WAIT, "both requests reach the origin", || o.requests() == 2);
    send(&mut s, &get(5));
    let f = answer_of(&mut s, 5).expect("stream 5 answered");
    assert_eq!((f.kind, reset_code(&f)), (RST_STREAM, REFUSED_STREAM));
    assert_eq!(o.requests(), 2);
}

#[test]
fn a_header_list_over_max_header_bytes_is_431_and_never_forwarded() {
    let o = silent();
    let p = proxy(o.addr, "[limits]\nmax_header_bytes = 1024\n");
    let big = format!("x-big: {}", "a".repeat(2000));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .args(["-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .args(["-H", &big])
        .arg(format!("http://{}/", p.addrs[0]))
        .output()
        .expect("curl runs (.ci/run installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 431", "{out:?}");
    assert_eq!(o.accepts(), 0);
}

#[test]
fn an_hpack_bomb_gets_goaway_before_it_is_decoded_whole() {
    let o = silent();
    let p = proxy(o.addr, "[limits]\nmax_header_bytes = 1024\n");
    let mut s = open(p.addrs[0], &[]);
    // One 1000-byte field into the dynamic table, then referenced by one byte (index
    // 62) a thousand times: a megabyte decoded from about 2 KB sent.
    let mut b = block(GOOD);
    b.extend(literal("x-bomb", &"b".repeat(1000), true));
    b.extend([0x80 | 62; 1000]);
    send(&mut s, &frame(1, END_STREAM_AND_HEADERS, 1, &b));
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM));
    assert_eq!(o.accepts(), 0);
}

#[test]
fn a_continuation_flood_gets_goaway() {
    let o = silent();
    let p = proxy(o.addr, "");
    let mut s = open(p.addrs[0], &[]);
    // HEADERS without END_HEADERS, then empty CONTINUATION frames that never end it.
    let mut out = frame(1, 0x1, 1, &block(GOOD));
    for _ in 0..1000 {
        out.extend(frame(9, 0, 1, b""));
    }
    let _ = s.write_all(&out); // weir may close before it has all
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM));
    assert_eq!(o.accepts(), 0);
}

// ---------------------------------------------------------------------------------------
// Floods of frames h2 answers or processes for free (weir's guard).
// ---------------------------------------------------------------------------------------

const LOW_BOUNDS: &str = "[http2]
flood_window = \"60s\"
max_control_frames = 20
max_window_updates = 20
max_empty_data = 20
max_resets = 5
[admin]
listen = \"127.0.0.1:0\"
";

/// Sends `one` ten times (under the bound: a request still gets its answer), then
/// forty more: GOAWAY ENHANCE_YOUR_CALM, counted under `kind`, and only the good
/// request reached the origin.
fn flood(name: &str, kind: &str, setup: &[u8], one: &[u8]) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let o = origin(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        ok(b"fine")
    });
    let p = proxy(o.addr, LOW_BOUNDS);
    let mut s = open(p.addrs[0], &[]);
    send(&mut s, setup);
    send(&mut s, &one.repeat(10));
    send(&mut s, &get(5));
    let f = answer_of(&mut s, 5).unwrap_or_else(|| panic!("{name}: no answer"));
    assert_eq!(
        f.kind, HEADERS,
        "{name}: under the bound a request is served"
    );
    let _ = s.write_all(&one.repeat(40));
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM), "{name}");
    let expected = 1 + usize::from(!setup.is_empty());
    assert!(seen.load(Ordering::SeqCst) <= expected, "{name}");
    let series = format!("weir_h2_guard_closes_total{{kind=\"{kind}\"}}");
    let admin = p.admin.unwrap();
    let text = util::admin::wait_for(admin, &series, 1.0, Duration::from_secs(10));
    assert_eq!(util::admin::value(&text, &series), Some(1.0), "{text}");
}

#[test]
fn a_ping_flood_gets_goaway() {
    flood("PING", "ping", b"", &frame(6, 0, 0, &[7; 8]));
}

#[test]
fn a_settings_flood_gets_goaway() {
    flood("SETTINGS", "settings", b"", &frame(4, 0, 0, b""));
}

#[test]
fn a_priority_flood_gets_goaway() {
    flood(
        "PRIORITY",
        "priority",
        b"",
        &frame(2, 0, 101, &[0, 0, 0, 0, 15]),
    );
}

#[test]
fn a_window_update_flood_gets_goaway() {
    flood(
        "WINDOW_UPDATE",
        "window_update",
        b"",
        &frame(8, 0, 0, &[0, 0, 0, 1]),
    );
}

#[test]
fn an_empty_data_flood_gets_goaway() {
    let post = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "a.test"),
        (":path", "/up"),
    ];
    let setup = frame(1, END_HEADERS, 3, &block(&post));
    flood("empty DATA", "empty_data", &setup, &frame(0, 0, 3, b""));
}

#[test]
fn a_ping_flood_past_the_default_bound_gets_goaway() {
    let o = silent();
    let p = proxy(o.addr, "");
    let mut s = open(p.addrs[0], &[]);
    let _ = s.write_all(&frame(6, 0, 0, &[7; 8]).repeat(10_000));
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM));
}

// ---------------------------------------------------------------------------------------
// Rapid reset (CVE-2023-44487).
// ---------------------------------------------------------------------------------------

#[test]
fn a_reset_stream_cancels_its_upstream_request_and_is_logged() {
    let o = silent();
    let log_dir = util::bin::temp_dir("h2-reset");
    let log = log_dir.join("access.log");
    let logged = format!(
        "[[middleware]]\nbuiltin = \"log\"\nconfig = {{ format = \"combined\", path = {log:?} }}\n"
    );
    let p = proxy(o.addr, &logged);
    let mut s = open(p.addrs[0], &[]);
    send(&mut s, &get(1));
    wait_until(WAIT, "the request reaches the origin", || o.requests() == 1);
    send(&mut s, &rst(1));
    // upstream_read is 60 s: only the cancel closes the origin's connection this soon.
    wait_until(WAIT, "the upstream request is cancelled", || {
        o.closes() == 1
    });
    // The connection itself goes on.
    send(&mut s, &frame(6, 0, 0, &[9; 8]));
    assert!(until(&mut s, |f| f.kind == 6 && f.flags & 1 == 1).is_some());
    drop(s);
    p.stop().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("\"GET /ok HTTP/2.0\" 0 0"), "{log}");
}

#[test]
fn rapid_resets_past_max_resets_get_goaway_and_cancel_their_requests() {
    let o = silent();
    let p = proxy(o.addr, LOW_BOUNDS);
    let mut s = open(p.addrs[0], &[]);
    // Each stream reaches the origin before it is reset: weir did work for each.
    for (i, id) in (1..).step_by(2).take(5).enumerate() {
        send(&mut s, &get(id));
        wait_until(WAIT, &format!("stream {id} reaches the origin"), || {
            o.requests() == i + 1
        });
        send(&mut s, &rst(id));
    }
    send(&mut s, &[get(11), rst(11)].concat());
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM));
    assert!(o.requests() <= 6, "{}", o.requests());
    wait_until(WAIT, "no request left running", || {
        o.closes() == o.accepts()
    });
}

#[test]
fn a_rapid_reset_burst_is_stopped_at_the_default_bound() {
    let o = silent();
    let p = proxy(o.addr, "");
    let mut s = open(p.addrs[0], &[]);
    let burst: Vec<u8> = (0..2000u32)
        .flat_map(|i| [get(2 * i + 1), rst(2 * i + 1)].concat())
        .collect();
    let _ = s.write_all(&burst);
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM));
    // At most the streams before the 101st reset were started, and all are cancelled.
    assert!(o.requests() <= 101, "{}", o.requests());
    wait_until(WAIT, "no request left running", || {
        o.closes() == o.accepts()
    });
}

// ---------------------------------------------------------------------------------------
// Time: a window that never opens, headers that never end.
// ---------------------------------------------------------------------------------------

#[test]
fn a_zero_window_that_never_opens_is_reset_after_client_body() {
    let o = origin(|_| ok(&[b'z'; 1000]));
    let p = proxy(o.addr, "[timeouts]\nclient_body = \"300ms\"\n");
    // SETTINGS_INITIAL_WINDOW_SIZE 0: no response byte may be sent until a
    // WINDOW_UPDATE, and none comes.
    let mut s = open(p.addrs[0], &[(4, 0)]);
    let started = Instant::now();
    send(&mut s, &get(1));
    let head = answer_of(&mut s, 1).expect("the response head");
    assert_eq!(head.kind, HEADERS);
    let f = until(&mut s, |f| f.stream == 1 && f.kind != HEADERS).expect("the stream ends");
    assert_eq!(f.kind, RST_STREAM, "{f:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(o.wait_closes(1), "the upstream connection was not freed");
}

#[test]
fn a_connection_that_never_sends_a_request_is_closed_after_timeouts_header() {
    let o = silent();
    let p = proxy(o.addr, "[timeouts]\nheader = \"300ms\"\n");
    let mut s = open(p.addrs[0], &[]);
    let started = Instant::now();
    // timeouts.idle is 60 s: only the header clock closes it this soon.
    assert_eq!(goaway_code(&mut s), Some(NO_ERROR));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_header_block_left_unfinished_is_closed_after_timeouts_header() {
    let a = util::backend(weir::backend::Mode::Name("a".into()));
    let p = proxy(a, "[timeouts]\nheader = \"300ms\"\n");
    let mut s = open(p.addrs[0], &[]);
    send(&mut s, &get(1));
    assert_eq!(answer_of(&mut s, 1).map(|f| f.kind), Some(HEADERS));
    // HEADERS without END_HEADERS, and the CONTINUATION never comes.
    send(&mut s, &frame(1, 0x1, 3, &block(GOOD)));
    let started = Instant::now();
    assert_eq!(goaway_code(&mut s), Some(NO_ERROR));
    assert!(started.elapsed() < Duration::from_secs(5));
}
