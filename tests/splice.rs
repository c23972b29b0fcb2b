//! Large Content-Length bodies between plain TCP sockets go by splice(2) (on the epoll
//! backend; the others copy, and the same tests check the copy): byte-exact, with the connection kept on both sides afterwards, counted in
//! the access log and in `weir_body_bytes_spliced_total`; an origin that closes
//! mid-body is handled as the copy loop handles it; with `splice = false` every body is
//! copied.

mod util;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use util::admin::{scrape, value};
use util::bin::temp_dir;
use util::client::{get, Conn};
use util::origin::{ok, origin, Reply};
use util::{fnv, pattern};
use weir::config::MiddlewareSpec;

const MIB: usize = 1024 * 1024;
const SPLICED: &str = "weir_body_bytes_spliced_total";

/// The spliced-bytes count is process-wide: the tests here run one at a time, so that
/// each one's count is its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An origin answering `/1m` and `/10m` with patterned bodies, anything else with "small".
fn large_origin() -> (util::origin::Origin, Vec<u8>, Vec<u8>) {
    let (one, ten) = (pattern(MIB, 7), pattern(10 * MIB, 8));
    let served = (one.clone(), ten.clone());
    let o = origin(move |r| match r.target.as_str() {
        "/1m" => ok(&served.0),
        "/10m" => ok(&served.1),
        _ => ok(b"small"),
    });
    (o, one, ten)
}

/// Adds the JSON access log at `path` in front of the chain.
fn with_log(mut config: weir::Config, path: &std::path::Path) -> weir::Config {
    let entry = format!(
        "builtin = \"log\"\nconfig = {{ format = \"json\", path = {:?} }}\n",
        path.display().to_string()
    );
    let spec: MiddlewareSpec = toml::from_str(&entry).unwrap();
    config.middleware.insert(0, spec);
    config
}

fn spliced(admin: std::net::SocketAddr) -> f64 {
    value(&scrape(admin), SPLICED).expect("the spliced-bytes series")
}

/// `moved` bytes were spliced of `total` relayed, when `copied` at most came with the
/// heads; the portable and tokio backends splice nothing.
fn assert_spliced(moved: f64, total: usize, copied: usize) {
    if weir::rt::DEFAULT_BACKEND {
        let least = (total - copied) as f64;
        assert!(
            moved >= least && moved <= total as f64,
            "spliced {moved} of {total}"
        );
    } else {
        assert_eq!(moved, 0.0, "only the epoll backend splices");
    }
}

#[test]
fn one_and_ten_mib_responses_are_spliced_byte_exact_and_both_connections_kept() {
    let _serial = one_at_a_time();
    let (o, one, ten) = large_origin();
    let proxy = util::start(util::admin::config(&[o.addr]));
    let admin = proxy.admin.expect("admin listener");
    let before = spliced(admin);
    let mut c = Conn::open(proxy.addr);
    for (path, body) in [("/1m", &one), ("/10m", &ten), ("/1m", &one)] {
        let r = c.roundtrip(&get(path));
        assert_eq!(r.status, 200, "{path}");
        let length = body.len().to_string();
        assert_eq!(r.header("content-length"), Some(length.as_str()), "{path}");
        assert_eq!(r.body.len(), body.len(), "{path}");
        assert_eq!(fnv(&r.body), fnv(body), "{path}: byte-exact");
    }
    // The same client connection carries the next request, and the origin saw one
    // connection: both kept after spliced bodies.
    let r = c.roundtrip(&get("/small"));
    assert_eq!(r.body, b"small");
    assert_eq!(
        o.accepts(),
        1,
        "the upstream connection went back to the pool"
    );
    // What came with each head (at most the first 4 KiB read) is copied, the rest spliced.
    assert_spliced(spliced(admin) - before, 12 * MIB, 3 * 4096);
}

#[test]
fn the_access_log_counts_spliced_bytes() {
    let _serial = one_at_a_time();
    let (o, _, _) = large_origin();
    let dir = temp_dir("splice-log");
    let path = dir.join("access.log");
    let proxy = util::start(with_log(util::config(&[o.addr]), &path));
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&get("/10m")).body.len(), 10 * MIB);
    assert_eq!(c.roundtrip(&get("/1m")).body.len(), MIB);
    proxy.stop().unwrap();
    let log = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains(&format!("\"bytes_out\":{}", 10 * MIB)),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(&format!("\"bytes_out\":{MIB}")),
        "{}",
        lines[1]
    );
    for l in lines {
        assert!(l.contains("\"error\":null"), "{l}");
    }
}

#[test]
fn an_origin_closing_mid_body_truncates_and_closes_the_client_connection() {
    let _serial = one_at_a_time();
    // The head promises 1 MiB; 600 KiB follow, then the origin closes.
    let sent = pattern(600 * 1024, 9);
    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {MIB}\r\n\r\n").into_bytes();
    answer.extend_from_slice(&sent);
    let o = origin(move |_| Reply::BytesThenClose(answer.clone()));
    let dir = temp_dir("splice-truncated");
    let path = dir.join("access.log");
    let proxy = util::start(with_log(util::config(&[o.addr]), &path));
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&get("/cut")).unwrap();
    // weir passes on every byte the origin sent, then closes: the client sees the
    // body end short of its Content-Length, the only signal left once the head is out.
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("weir closes the connection");
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..at]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {MIB}"))
            || head.contains(&format!("Content-Length: {MIB}")),
        "{head}"
    );
    assert_eq!(got.len() - at, sent.len(), "every byte the origin sent");
    assert_eq!(fnv(&got[at..]), fnv(&sent));
    proxy.stop().unwrap();
    let log = fs::read_to_string(&path).unwrap();
    assert!(log.contains("\"status\":200"), "{log}");
    assert!(log.contains("truncated"), "logged as truncated: {log}");
}

#[test]
fn uploads_of_one_and_ten_mib_are_spliced_byte_exact_and_counted() {
    let _serial = one_at_a_time();
    let o = origin(|r| ok(format!("{} {:x}", r.body.len(), fnv(&r.body)).as_bytes()));
    let dir = temp_dir("splice-upload");
    let path = dir.join("access.log");
    let proxy = util::start(with_log(util::admin::config(&[o.addr]), &path));
    let admin = proxy.admin.expect("admin listener");
    let before = spliced(admin);
    let mut c = Conn::open(proxy.addr);
    let bodies = [pattern(MIB, 10), pattern(10 * MIB, 11)];
    for body in &bodies {
        let head = format!(
            "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.send(head.as_bytes());
        c.send(body);
        let r = c.read(false).expect("a response");
        assert_eq!(r.text(), format!("{} {:x}", body.len(), fnv(body)));
    }
    // Both connections kept: the next request on the same client connection, one
    // upstream connection for all.
    assert_eq!(c.roundtrip(&get("/after")).status, 200);
    assert_eq!(o.accepts(), 1);
    assert_spliced(spliced(admin) - before, 11 * MIB, 2 * 4096);
    proxy.stop().unwrap();
    let log = fs::read_to_string(&path).unwrap();
    for size in [MIB, 10 * MIB] {
        assert!(log.contains(&format!("\"bytes_in\":{size},")), "{log}");
    }
}

#[test]
fn with_splice_off_large_bodies_are_copied_byte_exact_both_ways() {
    let _serial = one_at_a_time();
    let (o, one, _) = large_origin();
    let echo = origin(|r| ok(format!("{} {:x}", r.body.len(), fnv(&r.body)).as_bytes()));
    let mut config = util::admin::config(&[o.addr]);
    config.splice = false;
    let proxy = util::start(config);
    let admin = proxy.admin.expect("admin listener");
    let before = spliced(admin);
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(&get("/1m"));
    assert_eq!(r.body.len(), MIB);
    assert_eq!(fnv(&r.body), fnv(&one), "byte-exact");
    assert_eq!(
        c.roundtrip(&get("/small")).body,
        b"small",
        "the connection kept"
    );
    let mut config = util::config(&[echo.addr]);
    config.splice = false;
    let uploads = util::start(config);
    let mut c = Conn::open(uploads.addr);
    let body = pattern(MIB, 12);
    let head = format!("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {MIB}\r\n\r\n");
    c.send(head.as_bytes());
    c.send(&body);
    let r = c.read(false).expect("a response");
    assert_eq!(r.text(), format!("{MIB} {:x}", fnv(&body)));
    // The count is the process's: it covers both proxies.
    assert_eq!(spliced(admin) - before, 0.0, "nothing spliced");
}

#[test]
fn a_client_closing_mid_upload_is_not_sent_on_as_a_whole_body() {
    let _serial = one_at_a_time();
    let o = origin(|r| ok(format!("{}", r.body.len()).as_bytes()));
    let dir = temp_dir("splice-upload-cut");
    let path = dir.join("access.log");
    let proxy = util::start(with_log(util::config(&[o.addr]), &path));
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        MIB
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&pattern(300 * 1024, 12)).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    // weir answers nothing useful and closes; the origin never sees a whole request.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    proxy.stop().unwrap();
    assert!(
        o.try_request().is_none(),
        "the origin got no complete request"
    );
    let log = fs::read_to_string(&path).unwrap();
    assert!(log.contains("\"error\":\""), "logged as an error: {log}");
}

#[test]
fn a_client_leaving_mid_body_drops_the_upstream_connection_and_the_next_body_is_exact() {
    let _serial = one_at_a_time();
    let (o, one, _) = large_origin();
    let dir = temp_dir("splice-client-gone");
    let path = dir.join("access.log");
    let proxy = util::start(with_log(util::config(&[o.addr]), &path));
    // The client reads the head and a little of 10 MiB, then resets the connection:
    // weir's write fails with bytes still in its pipe.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&get("/10m")).unwrap();
    let mut some = vec![0; 100 * 1024];
    s.read_exact(&mut some).unwrap();
    drop(s);
    // The upstream connection, its body unfinished, is closed rather than pooled.
    assert!(o.wait_closes(1), "the origin connection was closed");
    // Whatever that pipe held never reaches another client.
    for _ in 0..4 {
        let r = Conn::open(proxy.addr).roundtrip(&get("/1m"));
        assert_eq!(fnv(&r.body), fnv(&one));
    }
    proxy.stop().unwrap();
    let log = fs::read_to_string(&path).unwrap();
    assert!(log.contains("client write failed"), "{log}");
}
