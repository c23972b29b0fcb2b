//! Receiving the PROXY protocol, from raw header bytes: the client address a good
//! header gives reaches the origin (X-Forwarded-For) and the access log, nothing past
//! the header is read with it, and every bad case (garbage, too long, a bad signature,
//! a length past the limit, an unknown family, no header, a header too slow, a peer
//! outside `trusted`) is closed without a request reaching the origin, and counted.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use util::admin::{scrape, value, wait_for};
use util::client::Conn;
use util::origin::{ok, origin, Origin};
use weir::config::{Cidr, Listener, MiddlewareSpec, ProxyProtocol, Versions};

const REQUEST: &[u8] = b"GET /pp HTTP/1.1\r\nHost: t\r\n\r\n";
const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A weir with one listener taking `accept` from `trusted`, an admin listener, and an
/// access log at `log`.
fn proxy(o: &Origin, accept: Versions, trusted: &str, log: &std::path::Path) -> util::TestProxy {
    let mut config = util::admin::config(&[o.addr]);
    let mut listen: Listener = "127.0.0.1:0".parse::<SocketAddr>().unwrap().into();
    listen.proxy_protocol = Some(ProxyProtocol {
        accept,
        trusted: vec![Cidr::parse(trusted).unwrap()],
    });
    config.listen = vec![listen];
    config.timeouts.header = Duration::from_millis(800);
    let entry = format!(
        "builtin = \"log\"\nconfig = {{ format = \"combined\", path = {:?} }}\n",
        log.display().to_string()
    );
    let spec: MiddlewareSpec = toml::from_str(&entry).unwrap();
    config.middleware.insert(0, spec);
    util::start(config)
}

fn v2(command: u8, family: u8, addrs: &[u8], tlvs: &[u8]) -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend([command, family]);
    h.extend(((addrs.len() + tlvs.len()) as u16).to_be_bytes());
    h.extend(addrs);
    h.extend(tlvs);
    h
}

fn v4_addrs(src: [u8; 4], sport: u16) -> Vec<u8> {
    let mut a = src.to_vec();
    a.extend([127, 0, 0, 1]);
    a.extend(sport.to_be_bytes());
    a.extend(80u16.to_be_bytes());
    a
}

/// Sends `bytes` in one write and reads the response's `X-Seen` echo: the origin
/// answers with the X-Forwarded-For it received.
fn served(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut c = Conn::open(addr);
    c.send(bytes);
    let r = c.read(false).expect("a response");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// Sends `bytes` (then a request) and asserts weir closes without a byte of answer.
fn closed(addr: SocketAddr, bytes: &[u8], what: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.write_all(REQUEST);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got); // EOF or a reset: both a close
    assert!(
        got.is_empty(),
        "{what}: weir answered {:?}",
        String::from_utf8_lossy(&got)
    );
}

fn echo_xff(o_req: &util::origin::Req) -> util::origin::Reply {
    ok(o_req.header("x-forwarded-for").unwrap_or("none").as_bytes())
}

#[test]
fn a_good_header_gives_the_client_address_to_the_origin_and_the_log() {
    let o = origin(echo_xff);
    let log_dir = util::bin::temp_dir("pp-good");
    let log = log_dir.join("access.log");
    let p = proxy(&o, Versions::Both, "127.0.0.1/32", &log);
    // v1 and the request in one write: weir must not read the request with the header.
    let v1 = [
        b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 80\r\n".as_slice(),
        REQUEST,
    ]
    .concat();
    assert_eq!(served(p.addr, &v1), "192.0.2.10");
    let v1_6 = [
        b"PROXY TCP6 2001:db8::7 ::1 5555 80\r\n".as_slice(),
        REQUEST,
    ]
    .concat();
    assert_eq!(served(p.addr, &v1_6), "2001:db8::7");
    // v2 over IPv4 with the authority and ALPN TLVs HAProxy sends.
    let tlvs = [&[0x02, 0, 5][..], b"a.com", &[0x01, 0, 2], b"h2"].concat();
    let h = v2(0x21, 0x11, &v4_addrs([198, 51, 100, 4], 4242), &tlvs);
    assert_eq!(served(p.addr, &[&h[..], REQUEST].concat()), "198.51.100.4");
    // v2 over IPv6.
    let mut six = "2001:db8::9"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    six.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    six.extend([0, 1, 0, 80]);
    let h = v2(0x21, 0x21, &six, &[]);
    assert_eq!(served(p.addr, &[&h[..], REQUEST].concat()), "2001:db8::9");
    // LOCAL (the balancer's health check) and UNKNOWN keep the socket's address.
    let h = v2(0x20, 0x00, &[], &[]);
    assert_eq!(served(p.addr, &[&h[..], REQUEST].concat()), "127.0.0.1");
    let h = b"PROXY UNKNOWN\r\n";
    assert_eq!(served(p.addr, &[&h[..], REQUEST].concat()), "127.0.0.1");
    // A header that arrives in pieces, then keep-alive requests on the same connection.
    let mut c = Conn::open(p.addr);
    c.reader.get_ref().set_nodelay(true).unwrap();
    for piece in [
        &b"PROXY TCP4 203.0.113."[..],
        b"5 127.0.0.1 ",
        b"1 80\r",
        b"\n",
    ] {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(20)); // separate segments, not a wait
    }
    for _ in 0..2 {
        assert_eq!(c.roundtrip(REQUEST).text(), "203.0.113.5");
    }
    drop(c);
    let admin = p.admin.unwrap();
    let text = scrape(admin);
    p.stop().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    for ip in [
        "192.0.2.10 ",
        "2001:db8::7 ",
        "198.51.100.4 ",
        "203.0.113.5 ",
    ] {
        assert!(log.lines().any(|l| l.starts_with(ip)), "{ip} not in {log}");
    }
    let rejected = |r: &str| {
        value(
            &text,
            &format!("weir_proxy_protocol_rejected_total{{reason=\"{r}\"}}"),
        )
    };
    assert_eq!(rejected("malformed"), Some(0.0), "{text}");
}

#[test]
fn every_bad_header_is_closed_before_a_request_and_counted() {
    let o = origin(echo_xff);
    let log_dir = util::bin::temp_dir("pp-bad");
    let log = log_dir.join("access.log");
    let p = proxy(&o, Versions::Both, "127.0.0.1/32", &log);
    let mut too_long = b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 80".to_vec();
    too_long.resize(120, b' ');
    too_long.extend(b"\r\n");
    let mut length_overflow = V2_SIG.to_vec();
    length_overflow.extend([0x21, 0x11, 0xff, 0xff]);
    let cases: [(&str, Vec<u8>, &str); 9] = [
        (
            "v1 garbage",
            b"PROXY TCP4 not-an-ip 127.0.0.1 1 80\r\n".to_vec(),
            "malformed",
        ),
        (
            "v1 bad port",
            b"PROXY TCP4 192.0.2.1 127.0.0.1 99999 80\r\n".to_vec(),
            "malformed",
        ),
        ("v1 too long", too_long, "too_long"),
        (
            "v2 bad signature",
            [
                &b"\r\n\r\n\0\r\nQUIX\n"[..],
                &[0x21, 0x11, 0, 12],
                &v4_addrs([1, 2, 3, 4], 1),
            ]
            .concat(),
            "missing",
        ),
        ("v2 length overflow", length_overflow, "too_long"),
        (
            "v2 length short of its addresses",
            v2(0x21, 0x11, &[1, 2, 3, 4], &[]),
            "malformed",
        ),
        (
            "v2 unknown family",
            v2(0x21, 0x51, &v4_addrs([1, 2, 3, 4], 1), &[]),
            "malformed",
        ),
        (
            "v2 TLV past the end",
            v2(0x21, 0x11, &v4_addrs([1, 2, 3, 4], 1), &[0x02, 0, 9, b'a']),
            "malformed",
        ),
        ("no header at all", Vec::new(), "missing"),
    ];
    for (what, bytes, _) in &cases {
        closed(p.addr, bytes, what);
    }
    // A header too slow: the first bytes, then nothing past timeouts.header. Timed from
    // before the connect: weir's clock starts once it has accepted, which may be well
    // before this thread runs again on a busy machine (timed from after the write, this
    // thread scheduled over 100 ms late would see the 800 ms close come "early").
    let start = Instant::now();
    let mut slow = TcpStream::connect(p.addr).unwrap();
    slow.write_all(b"PROXY TCP4 192.0.2.1").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    let _ = slow.read_to_end(&mut got);
    let waited = start.elapsed();
    assert!(
        got.is_empty() && waited >= Duration::from_millis(700),
        "{got:?} after {waited:?}; timeouts.header is 800 ms"
    );
    let admin = p.admin.unwrap();
    let series = |r: &str| format!("weir_proxy_protocol_rejected_total{{reason=\"{r}\"}}");
    let text = wait_for(admin, &series("timeout"), 1.0, Duration::from_secs(10));
    for r in ["malformed", "too_long", "missing", "timeout"] {
        let want = cases
            .iter()
            .filter(|c| c.2 == r)
            .count()
            .max(usize::from(r == "timeout"));
        assert_eq!(value(&text, &series(r)), Some(want as f64), "{r}: {text}");
    }
    assert_eq!(o.accepts(), 0, "a request reached the origin");
}

#[test]
fn a_peer_outside_trusted_is_closed_and_a_version_not_taken_is_refused() {
    let o = origin(echo_xff);
    let log_dir = util::bin::temp_dir("pp-untrusted");
    let log = log_dir.join("access.log");
    let p = proxy(&o, Versions::Both, "10.0.0.0/8", &log);
    closed(
        p.addr,
        b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 80\r\n",
        "untrusted peer",
    );
    let v2_only = proxy(&o, Versions::V2, "127.0.0.1/32", &log);
    closed(
        v2_only.addr,
        b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 80\r\n",
        "v1 on a v2 listener",
    );
    let v1_only = proxy(&o, Versions::V1, "127.0.0.1/32", &log);
    closed(
        v1_only.addr,
        &v2(0x21, 0x11, &v4_addrs([1, 2, 3, 4], 1), &[]),
        "v2 on a v1 listener",
    );
    let series = |r: &str| format!("weir_proxy_protocol_rejected_total{{reason=\"{r}\"}}");
    let text = wait_for(
        p.admin.unwrap(),
        &series("untrusted"),
        1.0,
        Duration::from_secs(10),
    );
    assert_eq!(value(&text, &series("untrusted")), Some(1.0), "{text}");
    let text = wait_for(
        v2_only.admin.unwrap(),
        &series("version"),
        1.0,
        Duration::from_secs(10),
    );
    assert_eq!(value(&text, &series("version")), Some(1.0), "{text}");
    assert_eq!(o.accepts(), 0, "a request reached the origin");
}
