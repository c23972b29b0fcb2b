//! HTTP/2 in operation, through the real proxy with a raw frame client on an `h2c`
//! listener: metrics and the status page count h2 connections and streams;
//! `limits.max_streams` refuses with REFUSED_STREAM; the idle clock starts when the
//! last stream ends; an idle h2 connection gives up its seat at `max_connections`;
//! streams get request ids of their own; stop and reload let an open stream finish;
//! WebSocket over HTTP/1.1 on a TLS listener that offers h2 (the default).

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::h2::{
    block, frame, DATA, END_STREAM_AND_HEADERS, GOAWAY, HEADERS, REFUSED_STREAM, RST_STREAM,
};
use util::origin::{ok, origin, Origin};
use util::wait::{wait_until, WAIT};
use weir::{Config, Proxy};

/// An event on the raw connection: `(type, stream, payload)`.
type Frame = (u8, u32, Vec<u8>);

/// A config with one `h2c` listener to origin `a` (routes: all to `a`), with `extra`.
fn h2c_config(a: SocketAddr, extra: &str) -> Config {
    let text = format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
threads = 2
{extra}
[[middleware]]
builtin = "balancer"
[upstreams.a]
servers = ["{a}"]
[[routes]]
upstream = "a"
"#
    );
    Config::parse(&text, "h2_ops.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// An h2c connection, preface and SETTINGS sent.
fn connect(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, b""));
    s.write_all(&out).unwrap();
    s
}

/// Sends GET `path` on `stream`, ending it with the HEADERS.
fn get(s: &mut TcpStream, stream: u32, path: &str) {
    let fields = [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "a.test"),
        (":path", path),
    ];
    let f = frame(HEADERS, END_STREAM_AND_HEADERS, stream, &block(&fields));
    s.write_all(&f).unwrap();
}

/// The next frame that is not SETTINGS, PING or WINDOW_UPDATE; `None` at the end of
/// the connection (or after the 10 s read timeout). A PING is answered, as a client
/// must (a graceful GOAWAY waits for the answer).
fn next_frame(s: &mut TcpStream) -> Option<Frame> {
    use std::io::Read;
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        s.read_exact(&mut payload).ok()?;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if head[3] == 6 && head[4] & 1 == 0 {
            s.write_all(&frame(6, 1, 0, &payload)).ok()?;
        }
        if !matches!(head[3], 4 | 6 | 8) {
            return Some((head[3], id, payload));
        }
    }
}

/// Reads frames until `stream` has its whole body; returns it, after asserting it
/// began with HEADERS (any GOAWAY on the way is noted in `goaway`).
fn body_of(s: &mut TcpStream, stream: u32, goaway: &mut bool) -> Vec<u8> {
    let (mut headers, mut body) = (false, Vec::new());
    loop {
        let (kind, id, payload) = next_frame(s).expect("the stream's answer");
        match kind {
            GOAWAY => *goaway = true,
            HEADERS if id == stream => headers = true,
            DATA if id == stream => {
                body.extend(&payload);
                // END_STREAM is flag 0x1; the flags are not kept, so an empty DATA or
                // the expected length ends it: the origins here answer short bodies.
                if payload.is_empty() || body.ends_with(b"!") {
                    assert!(headers, "DATA before HEADERS");
                    return body;
                }
            }
            RST_STREAM if id == stream => panic!("stream {stream} reset"),
            _ => {}
        }
    }
}

/// An origin that holds `/slow` until the test opens the gate (10 s at most),
/// answering `slow done!`; other paths get `fast {name}!` at once.
struct Gated {
    origin: Origin,
    gate: Sender<()>,
    slow_arrived: Arc<AtomicUsize>,
}

fn gated_origin(name: &'static str) -> Gated {
    let (gate, rx) = channel::<()>();
    let rx = Mutex::new(rx);
    let slow_arrived = Arc::new(AtomicUsize::new(0));
    let arrived = slow_arrived.clone();
    let origin = origin(move |req| {
        if req.target == "/slow" {
            arrived.fetch_add(1, Ordering::SeqCst);
            let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            return ok(b"slow done!");
        }
        ok(format!("fast {name}!").as_bytes())
    });
    Gated {
        origin,
        gate,
        slow_arrived,
    }
}

impl Gated {
    /// Waits until `/slow` has reached the origin.
    fn wait_slow(&self) {
        let arrived = || self.slow_arrived.load(Ordering::SeqCst) == 1;
        wait_until(WAIT, "/slow reaches the origin", arrived);
    }

    fn open(&self) {
        self.gate.send(()).unwrap();
    }
}

fn admin(extra: &str) -> String {
    format!("[admin]\nlisten = \"127.0.0.1:0\"\n{extra}")
}

fn series(admin: SocketAddr, name: &str, want: f64) -> String {
    let text = util::admin::wait_for(admin, name, want, Duration::from_secs(10));
    assert_eq!(
        util::admin::value(&text, name),
        Some(want),
        "{name}:\n{text}"
    );
    text
}

#[test]
fn metrics_and_the_status_page_count_h2_connections_and_streams() {
    let o = gated_origin("a");
    let p = util::start(h2c_config(o.origin.addr, &admin("")));
    let admin = p.admin.unwrap();
    let mut s = connect(p.addr);
    get(&mut s, 1, "/slow");
    series(admin, "weir_h2_streams_active", 1.0);
    series(admin, "weir_h2_connections_active", 1.0);
    let status = util::admin::json(admin, "/api/status");
    assert_eq!(status["h2"]["streams_active"], 1, "{status}");
    assert_eq!(status["h2"]["connections_active"], 1, "{status}");
    o.open();
    assert_eq!(body_of(&mut s, 1, &mut false), b"slow done!");
    get(&mut s, 3, "/fast");
    assert_eq!(body_of(&mut s, 3, &mut false), b"fast a!");
    series(admin, "weir_h2_streams_total", 2.0);
    series(admin, "weir_h2_streams_active", 0.0);
    drop(s);
    let text = series(admin, "weir_h2_connections_active", 0.0);
    assert_eq!(
        util::admin::value(&text, "weir_h2_connections_accepted_total"),
        Some(1.0)
    );
    assert_eq!(
        util::admin::value(&text, "weir_h2_streams_refused_total"),
        Some(0.0)
    );
    util::admin::promtool_accepts(text.as_bytes(), "h2 series");
    let page = util::admin::call(admin, "GET", "/status", None).text();
    assert!(page.contains("h2 connections"), "the status page shows h2");
}

#[test]
fn past_max_streams_a_new_stream_is_refused_and_counted() {
    let o = gated_origin("a");
    let p = util::start(h2c_config(
        o.origin.addr,
        &admin("[limits]\nmax_streams = 1\n"),
    ));
    let admin = p.admin.unwrap();
    let mut s = connect(p.addr);
    get(&mut s, 1, "/slow");
    series(admin, "weir_h2_streams_active", 1.0);
    // A second connection's stream too: the bound is the process's, not a connection's.
    let mut other = connect(p.addr);
    get(&mut other, 1, "/fast");
    let (kind, id, payload) = next_frame(&mut other).unwrap();
    assert_eq!((kind, id), (RST_STREAM, 1), "{payload:?}");
    assert_eq!(
        u32::from_be_bytes(payload[..4].try_into().unwrap()),
        REFUSED_STREAM
    );
    get(&mut s, 3, "/fast");
    let (kind, id, payload) = next_frame(&mut s).unwrap();
    assert_eq!((kind, id), (RST_STREAM, 3));
    assert_eq!(
        u32::from_be_bytes(payload[..4].try_into().unwrap()),
        REFUSED_STREAM
    );
    series(admin, "weir_h2_streams_refused_total", 2.0);
    o.wait_slow();
    assert!(
        o.origin.try_request().is_none(),
        "a refused stream reached the origin"
    );
    // Once the open stream ends, its place is free again.
    o.open();
    assert_eq!(body_of(&mut s, 1, &mut false), b"slow done!");
    series(admin, "weir_h2_streams_active", 0.0);
    get(&mut s, 5, "/fast");
    assert_eq!(body_of(&mut s, 5, &mut false), b"fast a!");
}

#[test]
fn the_idle_clock_starts_when_the_last_stream_ends() {
    // A stream that lasts longer than `timeouts.idle`. Timed from its start, the idle
    // clock would close the connection about 0.5 s after the answer.
    let o = origin(|_| {
        std::thread::sleep(Duration::from_millis(1500));
        ok(b"late!")
    });
    let p = util::start(h2c_config(o.addr, "[timeouts]\nidle = \"1s\"\n"));
    let mut s = connect(p.addr);
    // Timed from before the request, not from the answer's arrival: the stream ends at
    // least 1.5 s after this, so GOAWAY comes no sooner than 2.5 s after it. (Timed from
    // when this thread read the answer, a thread scheduled late made the idle look short.)
    let sent = Instant::now();
    get(&mut s, 1, "/late");
    let mut goaway = false;
    assert_eq!(body_of(&mut s, 1, &mut goaway), b"late!");
    assert!(!goaway, "GOAWAY while a stream was open");
    let until_goaway = loop {
        match next_frame(&mut s) {
            Some((GOAWAY, _, _)) => break sent.elapsed(),
            Some(_) => {}
            None => panic!("the connection ended without GOAWAY"),
        }
    };
    assert!(
        until_goaway >= Duration::from_millis(2500),
        "GOAWAY {until_goaway:?} after the request; its stream lasts 1.5 s and \
         timeouts.idle is 1 s"
    );
}

#[test]
fn an_idle_h2_connection_gives_up_its_seat_at_max_connections() {
    let o = origin(|_| ok(b"ok!"));
    let extra = "[limits]\nmax_connections = 1\n[timeouts]\nidle = \"60s\"\n";
    let p = util::start(h2c_config(o.addr, extra));
    let mut s = connect(p.addr);
    get(&mut s, 1, "/first");
    assert_eq!(body_of(&mut s, 1, &mut false), b"ok!");
    // The only seat is held by an h2 connection with no open stream: a new client
    // gets it, well before `timeouts.idle`.
    let started = Instant::now();
    let resp = util::client::once(
        p.addr,
        b"GET /h1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(started.elapsed() < Duration::from_secs(10));
    // The h2 connection was told GOAWAY and closed.
    let mut goaway = false;
    while let Some((kind, _, _)) = next_frame(&mut s) {
        goaway |= kind == GOAWAY;
    }
    assert!(goaway, "the evicted h2 connection got no GOAWAY");
}

#[test]
fn two_concurrent_streams_get_distinct_request_ids() {
    // The origin answers neither until both arrived: the streams are open at once.
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = ids.clone();
    let o = origin(move |req| {
        let id = req.header("X-Request-Id").unwrap_or("").to_string();
        seen.lock().unwrap().push(id);
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        ok(b"ok!")
    });
    let p = util::start(h2c_config(o.addr, ""));
    let mut s = connect(p.addr);
    get(&mut s, 1, "/one");
    get(&mut s, 3, "/two");
    let mut bodies = 0;
    while bodies < 2 {
        if let Some((DATA, _, payload)) = next_frame(&mut s) {
            bodies += usize::from(payload.ends_with(b"!"));
        }
    }
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.iter().all(|id| id.len() >= 16), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn on_stop_goaway_is_sent_and_an_open_stream_finishes_within_drain() {
    let o = gated_origin("a");
    let p = util::start(h2c_config(o.origin.addr, "[timeouts]\ndrain = \"20s\"\n"));
    let mut s = connect(p.addr);
    get(&mut s, 1, "/slow");
    o.wait_slow();
    let stopping = std::thread::spawn(move || p.stop());
    let (kind, _, _) = next_frame(&mut s).expect("GOAWAY");
    assert_eq!(kind, GOAWAY, "the first frame after stop is GOAWAY");
    o.open();
    assert_eq!(body_of(&mut s, 1, &mut false), b"slow done!");
    // With no stream left, weir closes the connection and stops, well within the drain.
    let started = Instant::now();
    while next_frame(&mut s).is_some() {}
    stopping.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_reload_lets_an_open_stream_finish_and_new_streams_take_the_new_routes() {
    let a = gated_origin("a");
    let b = origin(|_| ok(b"fast b!"));
    let first = h2c_config(a.origin.addr, &admin(""));
    let next = Arc::new(Mutex::new(first.clone()));
    let source = next.clone();
    let server = Proxy::new(first)
        .handle_signals(false)
        .reload_from(move || Ok(source.lock().unwrap().clone()))
        .bind()
        .unwrap();
    let (addr, admin) = (server.local_addr(), server.admin_addr().unwrap());
    let handle = server.handle();
    let running = std::thread::spawn(move || server.run());

    let mut s = connect(addr);
    get(&mut s, 1, "/slow");
    a.wait_slow();
    // The route now goes to `b`.
    *next.lock().unwrap() = h2c_config(b.addr, &self::admin(""));
    handle.reload();
    series(admin, "weir_config_reloads_total{result=\"ok\"}", 1.0);
    get(&mut s, 3, "/fast");
    assert_eq!(body_of(&mut s, 3, &mut false), b"fast b!");
    a.open();
    assert_eq!(body_of(&mut s, 1, &mut false), b"slow done!");
    drop(s);
    handle.stop();
    running.join().unwrap().unwrap();
}

/// A WebSocket echo origin: echoes each message until the client closes.
fn ws_echo_origin() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).unwrap();
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn websocket_over_http_1_1_on_a_tls_listener_that_offers_h2() {
    use util::tls::{connect, Ca};
    let dir = util::bin::temp_dir("h2-ops-ws");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    // A TLS listener as a file writes it, h2 left at its default (on).
    let tls = format!("tls = {{ cert = {:?}, key = {:?} }}", leaf.cert, leaf.key);
    let text = format!(
        "listen = [{{ addr = \"127.0.0.1:0\", {tls} }}]\n[upstream]\nservers = [\"{}\"]\n",
        ws_echo_origin()
    );
    let config = Config::parse(&text, "ws.toml").unwrap();
    assert!(config.listen[0].h2);
    let p = util::start(config);
    // A client that offers h2 gets it on this listener...
    let s = connect(p.addr, "a.test", ca.client(&[b"h2", b"http/1.1"])).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    // ...and a WebSocket client (HTTP/1.1 by ALPN, as browsers open WebSockets without
    // RFC 8441) upgrades and echoes.
    let s = connect(p.addr, "a.test", ca.client(&[b"http/1.1"])).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut ws, resp) = tungstenite::client("ws://a.test/echo", s).expect("upgrade over TLS");
    assert_eq!(resp.status(), 101);
    for text in ["over tls", "beside h2"] {
        ws.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap().into_text().unwrap().as_str(), text);
    }
    let _ = ws.close(None);
}
